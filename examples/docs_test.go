// Package examples holds the tests that keep the documentation true: every Go
// snippet in the repository's Markdown compiles (and its tests pass), and the
// plugin tutorial works when followed literally from a folder outside the
// repository, the way a third party follows it.
package examples

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// block is one fenced code block of a Markdown file.
type block struct {
	file string // relative to the repository root
	line int    // of the opening fence
	lang string
	kind string // from a preceding <!-- snippet: KIND --> comment
	text string
}

var snippetMark = regexp.MustCompile(`^<!--\s*snippet:\s*(\w+)\s*-->$`)

// blocks returns the fenced blocks of a Markdown file.
func blocks(t *testing.T, root, rel string) []block {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	var out []block
	lines := strings.Split(string(data), "\n")
	prev := "" // the last non-empty line before a fence
	for i := 0; i < len(lines); i++ {
		l := strings.TrimRight(lines[i], " \t")
		if !strings.HasPrefix(l, "```") {
			if strings.TrimSpace(l) != "" {
				prev = strings.TrimSpace(l)
			}
			continue
		}
		b := block{file: rel, line: i + 1, lang: strings.TrimSpace(strings.TrimPrefix(l, "```"))}
		if m := snippetMark.FindStringSubmatch(prev); m != nil {
			b.kind = m[1]
		}
		var body []string
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			body = append(body, lines[i])
		}
		b.text = strings.Join(body, "\n") + "\n"
		out = append(out, b)
		prev = ""
	}
	return out
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// markdownFiles lists the repository's Markdown files, outside dependency
// and run folders.
func markdownFiles(t *testing.T, root string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() && p != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "node_modules") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(name, ".md") {
			rel, _ := filepath.Rel(root, p)
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// imports maps a package name a snippet may use to its import path; only
// the names a snippet uses are imported.
var imports = map[string]string{
	"sdk":     "github.com/polyglot-teachers/polyglot/sdk",
	"sdktest": "github.com/polyglot-teachers/polyglot/sdk/sdktest",
	"cty":     "github.com/zclconf/go-cty/cty",
	"context": "context",
	"testing": "testing",
	"strings": "strings",
	"time":    "time",
	"json":    "encoding/json",
	"fmt":     "fmt",
}

func importsFor(src string) string {
	var b strings.Builder
	for name, path := range imports {
		if regexp.MustCompile(`\b` + name + `\.`).MatchString(src) {
			fmt.Fprintf(&b, "import %s %q\n", name, path)
		}
	}
	return b.String()
}

// stmtWrapper turns statements into a function body. The parameters are the
// names the snippets may take as given; every variable the snippet declares
// at its top level is marked used, since a snippet shows how a value is
// built, not what is done with it afterwards.
func stmtWrapper(t *testing.T, b block, n int) string {
	t.Helper()
	head := fmt.Sprintf("func _snippet%d(ctx context.Context, cfg sdk.Config, t *testing.T) sdk.Diagnostics {\n", n)
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "", "package p\n"+head+b.text+"\nreturn nil\n}\n", 0)
	if err != nil {
		t.Fatalf("%s:%d: the snippet does not parse as statements: %v", b.file, b.line, err)
	}
	var uses []string
	for _, s := range f.Decls[0].(*ast.FuncDecl).Body.List {
		if as, ok := s.(*ast.AssignStmt); ok && as.Tok == token.DEFINE {
			for _, l := range as.Lhs {
				if id, ok := l.(*ast.Ident); ok && id.Name != "_" {
					uses = append(uses, "_ = "+id.Name)
				}
			}
		}
	}
	return head + b.text + strings.Join(uses, "\n") + "\nreturn nil\n}\n"
}

// TestGoSnippetsCompile checks every ```go block of every Markdown file.
// Each must say what it is with <!-- snippet: KIND --> on the line before:
//
//	decl  top-level declarations
//	stmt  statements (given ctx, cfg sdk.Config and t)
//	test  test functions, which are run
//
// A snippet is compiled in a copy of the Go package of its Markdown file's
// folder (the plugin it documents), with its own main renamed, so it can use
// that package's types.
func TestGoSnippetsCompile(t *testing.T) {
	root := repoRoot(t)
	byDir := map[string][]block{}
	for _, f := range markdownFiles(t, root) {
		for _, b := range blocks(t, root, f) {
			if b.lang != "go" {
				continue
			}
			switch b.kind {
			case "decl", "stmt", "test":
			default:
				t.Errorf("%s:%d: a Go snippet needs <!-- snippet: decl|stmt|test --> on the line before it", b.file, b.line)
				continue
			}
			byDir[filepath.Dir(f)] = append(byDir[filepath.Dir(f)], b)
		}
	}
	if len(byDir) == 0 {
		t.Fatal("no Go snippets found; the walk is broken")
	}
	for dir, bs := range byDir {
		t.Run(dir, func(t *testing.T) { checkSnippets(t, root, dir, bs) })
	}
}

func checkSnippets(t *testing.T, root, dir string, bs []block) {
	tmp, err := os.MkdirTemp(filepath.Join(root, "examples"), "_snippets-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	// The documented package, if the folder has one, with its main renamed.
	src, _ := filepath.Glob(filepath.Join(root, dir, "*.go"))
	for _, p := range src {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		data = bytes.Replace(data, []byte("\nfunc main() {"), []byte("\nfunc documentedMain() {"), 1)
		if err := os.WriteFile(filepath.Join(tmp, filepath.Base(p)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if len(src) == 0 {
		os.WriteFile(filepath.Join(tmp, "doc.go"), []byte("package main\n\nfunc main() {}\n"), 0o644)
	}
	where := map[string]string{}
	for i, b := range bs {
		code, name := b.text, fmt.Sprintf("snippet%d.go", i)
		switch b.kind {
		case "stmt":
			code = stmtWrapper(t, b, i)
		case "test":
			name = fmt.Sprintf("snippet%d_test.go", i)
		}
		file := "package main\n\n" + importsFor(code) + "\n" + code
		if err := os.WriteFile(filepath.Join(tmp, name), []byte(file), 0o644); err != nil {
			t.Fatal(err)
		}
		where[name] = fmt.Sprintf("%s:%d", b.file, b.line)
	}
	cmd := exec.Command("go", "test", "-count=1", "./"+filepath.Base(tmp))
	cmd.Dir = filepath.Join(root, "examples")
	out, err := cmd.CombinedOutput()
	if err != nil {
		msg := string(out)
		for name, w := range where {
			msg = strings.ReplaceAll(msg, name, name+" ("+w+")")
		}
		t.Fatalf("the snippets of %s do not compile or their tests fail:\n%s", dir, msg)
	}
}

// TestPluginTutorialFromOutside follows the echo plugin's README literally:
// its shell blocks run, in order, in an empty folder outside the repository,
// with POLYGLOT_SRC naming the clone and polyglot on PATH, as the README
// says. It resolves the SDK's dependencies through the Go module proxy.
func TestPluginTutorialFromOutside(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a plugin in a module of its own; not in -short")
	}
	root := repoRoot(t)
	var script []string
	for _, b := range blocks(t, root, "examples/plugin-teacher-echo/README.md") {
		if b.lang == "sh" {
			script = append(script, b.text)
		}
	}
	if len(script) < 2 {
		t.Fatalf("the tutorial has %d shell blocks; expected the build and the use blocks", len(script))
	}
	work := t.TempDir()
	bin := filepath.Join(work, "bin")
	build := exec.Command("go", "build", "-o", filepath.Join(bin, "polyglot"), ".")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building polyglot: %v\n%s", err, out)
	}
	home := filepath.Join(work, "home")
	os.MkdirAll(home, 0o755)
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", strings.Join(script, "\n"))
	cmd.Dir = home
	env := []string{
		"POLYGLOT_SRC=" + root,
		"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"),
		"POLYGLOT_PLUGIN_DIR=" + filepath.Join(work, "plugins"),
		"POLYGLOT_CACHE=off",
		"POLYGLOT_LOG=warn",
		"GOFLAGS=", // the user's module, not this test's flags
	}
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "PATH=") && !strings.HasPrefix(e, "GOFLAGS=") && !strings.HasPrefix(e, "POLYGLOT_") {
			env = append(env, e)
		}
	}
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("following examples/plugin-teacher-echo/README.md from %s failed: %v\n%s", home, err, out)
	}
	t.Logf("%s", out)
	// The plugin was installed where the environment says, the run kept its
	// store inside the copied experiment, and status counted the echo
	// teacher's examples (6 per language).
	for _, want := range []string{
		filepath.Join(work, "plugins", "polyglot-plugin-echo_v0.1.0"),
		filepath.Join(home, "polyglot-plugin-echo", "echo-demo", ".polyglot", "polyglot.db"),
	} {
		if _, err := os.Stat(want); err != nil {
			t.Errorf("after the tutorial: %v", err)
		}
	}
	if n := len(regexp.MustCompile(`(?m)^\s*shouty\s+(de|es)\s+respond\s+1\s+6\s`).FindAllString(string(out), -1)); n != 2 {
		t.Errorf("status shows %d of the 2 expected rows of 6 examples by shouty", n)
	}
}
