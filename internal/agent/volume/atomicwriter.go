package volume

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// The kubelet's atomic-writer layout: the files live in a timestamped directory, "..data"
// points at it, and each top-level name the user sees is a symlink through "..data". An
// update writes a new timestamped directory and renames a new "..data" link over the old
// one, so a reader sees either the old set of files or the new one, never a mix.
const (
	dataDirName    = "..data"
	newDataDirName = "..data_tmp"
)

// file is one file of a payload: its content and permission bits.
type file struct {
	data []byte
	mode int32
}

// payload maps paths relative to the volume to files.
type payload map[string]file

// writeAtomic makes dir hold exactly p, and reports whether it wrote anything (nothing is
// written when the files already hold p).
func writeAtomic(dir string, p payload) (bool, error) {
	clean := make(payload, len(p))
	for path, f := range p {
		if err := validatePath(path); err != nil {
			return false, err
		}
		clean[filepath.Clean(path)] = f
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, err
	}
	oldTs, err := os.Readlink(filepath.Join(dir, dataDirName))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("read %s link: %w", dataDirName, err)
	}
	var oldNames []string
	if oldTs != "" {
		same, names, err := holds(filepath.Join(dir, oldTs), clean)
		if err != nil {
			return false, err
		}
		if same {
			return false, nil
		}
		oldNames = names
	}

	tsDir, err := os.MkdirTemp(dir, time.Now().UTC().Format("..2006_01_02_15_04_05."))
	if err != nil {
		return false, err
	}
	if err := os.Chmod(tsDir, 0o755); err != nil {
		return false, err
	}
	if err := writeFiles(tsDir, clean); err != nil {
		os.RemoveAll(tsDir)
		return false, err
	}
	tmpLink := filepath.Join(dir, newDataDirName)
	if err := os.Remove(tmpLink); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	if err := os.Symlink(filepath.Base(tsDir), tmpLink); err != nil {
		os.RemoveAll(tsDir)
		return false, err
	}
	if err := os.Rename(tmpLink, filepath.Join(dir, dataDirName)); err != nil {
		os.Remove(tmpLink)
		os.RemoveAll(tsDir)
		return false, err
	}

	newNames := topNames(clean)
	for _, name := range newNames {
		link := filepath.Join(dir, name)
		if _, err := os.Lstat(link); err == nil {
			continue
		}
		if err := os.Symlink(filepath.Join(dataDirName, name), link); err != nil {
			return true, err
		}
	}
	for _, name := range oldNames {
		if !slices.Contains(newNames, name) {
			if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return true, err
			}
		}
	}
	if oldTs != "" {
		if err := os.RemoveAll(filepath.Join(dir, oldTs)); err != nil {
			return true, err
		}
	}
	return true, nil
}

// holds reports whether tsDir contains exactly p, and returns the top-level names it has.
func holds(tsDir string, p payload) (bool, []string, error) {
	entries, err := os.ReadDir(tsDir)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil, nil
	}
	if err != nil {
		return false, nil, err
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	found := 0
	same := true
	err = filepath.WalkDir(tsDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(tsDir, path)
		want, ok := p[rel]
		if !ok {
			same = false
			return filepath.SkipAll
		}
		found++
		info, err := d.Info()
		if err != nil {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if int32(info.Mode().Perm()) != want.mode&0o777 || !bytes.Equal(data, want.data) {
			same = false
			return filepath.SkipAll
		}
		return nil
	})
	return same && found == len(p), names, err
}

func writeFiles(tsDir string, p payload) error {
	for path, f := range p {
		full := filepath.Join(tsDir, path)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, f.data, 0o644); err != nil {
			return err
		}
		// Chmod, not WriteFile's mode: the umask must not narrow what the user asked for.
		if err := os.Chmod(full, fs.FileMode(f.mode&0o777)); err != nil {
			return err
		}
	}
	return nil
}

// topNames are the first path elements of p, the names the user sees in the volume.
func topNames(p payload) []string {
	var names []string
	for path := range p {
		name, _, _ := strings.Cut(path, string(filepath.Separator))
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// validatePath refuses what the kubelet's atomic writer refuses: paths that could leave the
// volume or collide with its own "..data" entries.
func validatePath(path string) error {
	const maxPathLength, maxFileNameLength = 4096, 255
	switch {
	case path == "":
		return fmt.Errorf("invalid path: must not be empty: %q", path)
	case filepath.IsAbs(path):
		return fmt.Errorf("invalid path: must be relative path: %s", path)
	case len(path) > maxPathLength:
		return fmt.Errorf("invalid path: must be less than or equal to %d characters", maxPathLength)
	}
	for _, item := range strings.Split(path, string(filepath.Separator)) {
		if item == ".." {
			return fmt.Errorf("invalid path: must not contain '..': %s", path)
		}
		if len(item) > maxFileNameLength {
			return fmt.Errorf("invalid path: filenames must be less than or equal to %d characters", maxFileNameLength)
		}
	}
	if strings.HasPrefix(path, "..") {
		return fmt.Errorf("invalid path: must not start with '..': %s", path)
	}
	return nil
}
