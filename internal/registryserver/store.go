package registryserver

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// store is the on-disk layout described in doc.go. Its methods take validated names,
// digests ("sha256:<hex>") and tags; they return fs.ErrNotExist for what is not there.
type store struct {
	dir string
}

// digestPath is the relative path of a digest: <algorithm>/<hex>.
func digestPath(digest string) string {
	alg, hx, _ := strings.Cut(digest, ":")
	return filepath.Join(alg, hx)
}

func (s *store) blobPath(digest string) string {
	return filepath.Join(s.dir, "blobs", digestPath(digest))
}

func (s *store) repoPath(repo string, elem ...string) string {
	return filepath.Join(append([]string{s.dir, "repositories", filepath.FromSlash(repo)}, elem...)...)
}

func (s *store) layerLink(repo, digest string) string {
	return s.repoPath(repo, "_layers", digestPath(digest))
}

func (s *store) manifestLink(repo, digest string) string {
	return s.repoPath(repo, "_manifests", digestPath(digest))
}

func (s *store) tagPath(repo, tag string) string { return s.repoPath(repo, "_tags", tag) }

// referrerDir holds a file per referrer of subject, named <algorithm>.<hex>.
func (s *store) referrerDir(repo, subject string) string {
	return s.repoPath(repo, "_referrers", digestPath(subject))
}

func referrerFile(digest string) string { return strings.Replace(digest, ":", ".", 1) }

func (s *store) uploadPath(id string) string { return filepath.Join(s.dir, "uploads", id) }

// writeFile writes data to path atomically: a reader sees the old file or the new one.
func writeFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}

// exists reports whether path is there; errors other than absence count as absence too,
// and show up when the file is read.
func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// hasBlob reports whether the registry holds the blob at all, in any repository.
func (s *store) hasBlob(digest string) bool { return exists(s.blobPath(digest)) }

// repoHasBlob reports whether repo may serve digest.
func (s *store) repoHasBlob(repo, digest string) bool {
	return exists(s.layerLink(repo, digest)) && s.hasBlob(digest)
}

// putBlob stores data under digest (which the caller has verified) and links it into repo.
func (s *store) putBlob(repo, digest string, data []byte) error {
	if !s.hasBlob(digest) {
		if err := writeFile(s.blobPath(digest), data); err != nil {
			return fmt.Errorf("store blob %s: %w", digest, err)
		}
	}
	return s.linkBlob(repo, digest)
}

// commitUpload moves a finished upload's data file to the blob store and links it into repo.
func (s *store) commitUpload(repo, id, digest string) error {
	dst := s.blobPath(digest)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if err := os.Rename(s.uploadPath(id), dst); err != nil {
		return fmt.Errorf("store blob %s: %w", digest, err)
	}
	return s.linkBlob(repo, digest)
}

func (s *store) linkBlob(repo, digest string) error {
	if exists(s.layerLink(repo, digest)) {
		return nil
	}
	if err := writeFile(s.layerLink(repo, digest), nil); err != nil {
		return fmt.Errorf("link blob %s into %s: %w", digest, repo, err)
	}
	return nil
}

// unlinkBlob removes digest from repo. The data stays: other repositories may link it.
func (s *store) unlinkBlob(repo, digest string) error {
	return os.Remove(s.layerLink(repo, digest))
}

func (s *store) openBlob(digest string) (*os.File, error) { return os.Open(s.blobPath(digest)) }

// manifest is a stored manifest: its bytes, digest and media type.
type manifest struct {
	digest    string
	mediaType string
	data      []byte
}

// resolve turns a tag or digest into the digest of one of repo's manifests.
func (s *store) resolve(repo, ref string) (string, error) {
	if isDigest(ref) {
		if !exists(s.manifestLink(repo, ref)) {
			return "", fs.ErrNotExist
		}
		return ref, nil
	}
	b, err := os.ReadFile(s.tagPath(repo, ref))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// getManifest reads one of repo's manifests by digest.
func (s *store) getManifest(repo, digest string) (*manifest, error) {
	mt, err := os.ReadFile(s.manifestLink(repo, digest))
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(s.blobPath(digest))
	if err != nil {
		return nil, err
	}
	return &manifest{digest: digest, mediaType: string(mt), data: data}, nil
}

// putManifest stores m in repo, under tags too, and records it as a referrer of subject
// unless subject is empty. The order of writes matters: a manifest is visible by digest only
// once its bytes are stored, and by tag only once it is visible by digest.
func (s *store) putManifest(repo string, m *manifest, tags []string, subject string) error {
	if !s.hasBlob(m.digest) {
		if err := writeFile(s.blobPath(m.digest), m.data); err != nil {
			return fmt.Errorf("store manifest %s: %w", m.digest, err)
		}
	}
	if subject != "" {
		if err := writeFile(filepath.Join(s.referrerDir(repo, subject), referrerFile(m.digest)), nil); err != nil {
			return fmt.Errorf("record referrer %s: %w", m.digest, err)
		}
	}
	if err := writeFile(s.manifestLink(repo, m.digest), []byte(m.mediaType)); err != nil {
		return fmt.Errorf("link manifest %s into %s: %w", m.digest, repo, err)
	}
	for _, tag := range tags {
		if err := writeFile(s.tagPath(repo, tag), []byte(m.digest)); err != nil {
			return fmt.Errorf("tag %s:%s: %w", repo, tag, err)
		}
	}
	return nil
}

// deleteManifest removes a manifest from repo with every tag that points to it.
func (s *store) deleteManifest(repo, digest, subject string) error {
	tags, err := s.tags(repo)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for _, t := range tags {
		if d, err := s.resolve(repo, t); err == nil && d == digest {
			if err := os.Remove(s.tagPath(repo, t)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	if subject != "" {
		os.Remove(filepath.Join(s.referrerDir(repo, subject), referrerFile(digest)))
	}
	return os.Remove(s.manifestLink(repo, digest))
}

func (s *store) deleteTag(repo, tag string) error { return os.Remove(s.tagPath(repo, tag)) }

// repoExists reports whether anything was ever pushed to repo itself (not only to
// repositories below it, such as repo/sub).
func (s *store) repoExists(repo string) bool {
	for _, sub := range []string{"_layers", "_manifests", "_tags"} {
		if exists(s.repoPath(repo, sub)) {
			return true
		}
	}
	return false
}

// tags lists repo's tags in lexical order.
func (s *store) tags(repo string) ([]string, error) {
	entries, err := os.ReadDir(s.repoPath(repo, "_tags"))
	if err != nil {
		return nil, err
	}
	var tags []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".tmp-") {
			tags = append(tags, e.Name())
		}
	}
	sort.Strings(tags)
	return tags, nil
}

// referrers lists the digests of repo's manifests whose subject is subject.
func (s *store) referrers(repo, subject string) ([]string, error) {
	entries, err := os.ReadDir(s.referrerDir(repo, subject))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".tmp-") {
			out = append(out, strings.Replace(e.Name(), ".", ":", 1))
		}
	}
	return out, nil
}

// createUpload starts an empty upload session.
func (s *store) createUpload(id string) error {
	return writeFile(s.uploadPath(id), nil)
}

// uploadSize is how many bytes an upload holds; fs.ErrNotExist for an unknown session.
func (s *store) uploadSize(id string) (int64, error) {
	fi, err := os.Stat(s.uploadPath(id))
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// appendUpload appends r to an upload session and returns its new size. The caller holds
// the session's lock.
func (s *store) appendUpload(id string, r io.Reader) (int64, error) {
	f, err := os.OpenFile(s.uploadPath(id), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return 0, err
	}
	if _, err := io.Copy(f, r); err != nil {
		// A chunk lands whole or not at all, so that the client can send it again.
		f.Truncate(fi.Size())
		f.Close()
		return 0, err
	}
	if err := f.Close(); err != nil {
		return 0, err
	}
	return s.uploadSize(id)
}

func (s *store) deleteUpload(id string) error { return os.Remove(s.uploadPath(id)) }
