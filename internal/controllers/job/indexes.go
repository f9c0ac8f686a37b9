package job

import (
	"slices"
	"strconv"
	"strings"
)

// indexes is a set of completion indexes, sorted and without repeats. Indexed Jobs have at
// most 100,000 completions (validation), so a slice is small enough.
type indexes []int

// parseIndexes reads s, written as status.completedIndexes is ("1,3-5,7"), keeping only the
// indexes below completions. Malformed parts are skipped.
func parseIndexes(s string, completions int) indexes {
	var out indexes
	if s == "" {
		return out
	}
	for _, part := range strings.Split(s, ",") {
		first, last, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(first)
		if err != nil || a < 0 {
			continue
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(last); err != nil || b < a {
				continue
			}
		}
		for i := a; i <= b && i < completions; i++ {
			out = append(out, i)
		}
	}
	return out.with()
}

// with returns the union of x and more.
func (x indexes) with(more ...int) indexes {
	out := append(slices.Clone(x), more...)
	slices.Sort(out)
	return slices.Compact(out)
}

// has reports whether i is in x.
func (x indexes) has(i int) bool {
	_, found := slices.BinarySearch(x, i)
	return found
}

// String writes x as the API does: runs of three or more as "first-last", the rest as single
// numbers, separated by commas ("0-2,4,5").
func (x indexes) String() string {
	var b strings.Builder
	for i := 0; i < len(x); {
		j := i
		for j+1 < len(x) && x[j+1] == x[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(x[i]))
		switch {
		case j == i+1:
			b.WriteString("," + strconv.Itoa(x[j]))
		case j > i+1:
			b.WriteString("-" + strconv.Itoa(x[j]))
		}
		i = j + 1
	}
	return b.String()
}
