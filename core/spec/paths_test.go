package spec

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// pathsFixture lays out
//
//	root/spec/          the experiment folder (main.hcl is written per case)
//	root/spec/templates/ok.txt, root/spec/data/seeds.jsonl
//	root/spec/link.txt -> ../outside/secret.txt
//	root/spec/fifo.txt  (a named pipe)
//	root/outside/secret.txt, root/outside/seeds.jsonl, root/outside/t.txt
func pathsFixture(t *testing.T) (spec, outside string) {
	t.Helper()
	root := t.TempDir()
	spec, outside = filepath.Join(root, "spec"), filepath.Join(root, "outside")
	for path, body := range map[string]string{
		filepath.Join(spec, "templates", "ok.txt"):   "{{seed.prompt}}",
		filepath.Join(spec, "data", "seeds.jsonl"):   `{"id":"1","language":"de","prompt":"p","response":"r"}` + "\n",
		filepath.Join(outside, "secret.txt"):         "root:$6$hash:19000:0:99999:7:::",
		filepath.Join(outside, "seeds.jsonl"):        `{"id":"1","language":"de","prompt":"p","response":"r"}` + "\n",
		filepath.Join(outside, "t.txt"):              "{{seed.prompt}}",
		filepath.Join(outside, "big", "huge.txt"):    "",
		filepath.Join(spec, "templates", "huge.txt"): "",
	} {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A sparse file just over the cap.
	if err := os.Truncate(filepath.Join(spec, "templates", "huge.txt"), MaxReadBytes+1); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../outside/secret.txt", filepath.Join(spec, "link.txt")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(spec, "fifo.txt"), 0o644); err != nil {
		t.Fatal(err)
	}
	return spec, outside
}

const pathsHead = `experiment "x" {
  languages = ["de"]
%s}
teacher "t" {
  plugin = "echo"
  model  = "m"
}
variable "p" {
  type    = string
  default = "../outside/secret.txt"
}
`

// TestSpecReadsOnlyInsideItsFolder covers file(), template, system and
// seed path: outside the experiment folder (also through a symbolic link)
// only when allowed, regular files only, and a size cap. Every refusal is
// located at the line that asked and says how to allow the read.
func TestSpecReadsOnlyInsideItsFolder(t *testing.T) {
	cases := []struct {
		name      string
		exp, body string // exp: lines inside the experiment block
		vars      map[string]string
		allow     []string
		summary   string // "" means no error
		detail    string
	}{
		{name: "file inside", body: `locals { x = file("templates/ok.txt") }`},
		{name: "file dot-dot", body: `locals { x = file("../outside/secret.txt") }`, summary: "Invalid function argument", detail: "outside the experiment folder"},
		{name: "file absolute", body: `locals { x = file("OUTSIDE/secret.txt") }`, summary: "Invalid function argument", detail: "allow_read"},
		{name: "file symlink out", body: `locals { x = file("link.txt") }`, summary: "Invalid function argument", detail: "(which is "},
		{name: "file fifo", body: `locals { x = file("fifo.txt") }`, summary: "Invalid function argument", detail: "not a regular file (it is a named pipe)"},
		{name: "file device allowed but not regular", allow: []string{"/dev"}, body: `locals { x = file("/dev/zero") }`, summary: "Invalid function argument", detail: "not a regular file (it is a device)"},
		{name: "file too large", body: `locals { x = file("templates/huge.txt") }`, summary: "Invalid function argument", detail: "more than the 16777216"},
		{name: "file from spec default", body: `locals { x = file(var.p) }`, summary: "Invalid function argument", detail: "outside the experiment folder"},
		{name: "file allowed by allow_read", exp: "  allow_read = [\"../outside\"]\n", body: `locals { x = file("../outside/secret.txt") }`},
		{name: "file allowed by flag", allow: []string{"OUTSIDE"}, body: `locals { x = file("../outside/secret.txt") }`},
		{name: "file allowed by -var", vars: map[string]string{"p": "OUTSIDE/secret.txt"}, body: `locals { x = file(var.p) }`},
		{name: "allow_read from a variable", exp: "  allow_read = [var.p]\n", body: "", summary: "Invalid allow_read", detail: "literal paths"},
		{name: "seeds outside", body: "seeds \"s\" {\n  path = \"../outside/seeds.jsonl\"\n}", summary: "Seed data outside the experiment folder", detail: "allow_read"},
		{name: "seeds glob outside", body: "seeds \"s\" {\n  path = \"../outside/*.jsonl\"\n}", summary: "Seed data outside the experiment folder"},
		{name: "seeds fifo", body: "seeds \"s\" {\n  path   = \"fifo.txt\"\n  format = \"jsonl\"\n}", summary: "Seed data not a regular file"},
		{name: "seeds inside", body: "seeds \"s\" {\n  path = \"data/seeds.jsonl\"\n}"},
		{name: "template outside", body: strategy(`template = "../outside/t.txt"`), summary: "Template outside the experiment folder", detail: "allow_read"},
		{name: "system through a link", body: strategy(`system = "link.txt"` + "\n    template = \"templates/ok.txt\""), summary: "Template outside the experiment folder"},
		{name: "template fifo", body: strategy(`template = "fifo.txt"`), summary: "Template not a regular file"},
		{name: "template allowed", exp: "  allow_read = [\"../outside/t.txt\"]\n", body: strategy(`template = "../outside/t.txt"`)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			spec, outside := pathsFixture(t)
			src := strings.ReplaceAll(strings.Replace(pathsHead, "%s", c.exp, 1)+c.body+"\n", "OUTSIDE", outside)
			p := filepath.Join(spec, "main.hcl")
			if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			var allow []string
			for _, a := range c.allow {
				allow = append(allow, strings.ReplaceAll(a, "OUTSIDE", outside))
			}
			vars := map[string]string{}
			for k, v := range c.vars {
				vars[k] = strings.ReplaceAll(v, "OUTSIDE", outside)
			}
			_, diags := LoadFiles([]string{p}, LoadOptions{Env: noEnv, Vars: vars, AllowRead: allow})
			var errs hcl.Diagnostics
			for _, d := range diags {
				if d.Severity == hcl.DiagError {
					errs = append(errs, d)
				}
			}
			if c.summary == "" {
				if len(errs) > 0 {
					t.Fatalf("want no errors, got %v", errs)
				}
				return
			}
			if len(errs) != 1 || errs[0].Summary != c.summary || !strings.Contains(errs[0].Detail, c.detail) {
				t.Fatalf("want one %q containing %q, got %v", c.summary, c.detail, errs)
			}
			line := lineOf(src, c.body)
			if c.exp != "" && c.body == "" {
				line = 3
			}
			if s := errs[0].Subject; s == nil || s.Filename != p || s.Start.Line < line {
				t.Errorf("diagnostic not located in main.hcl at or after line %d: %v", line, errs[0].Subject)
			}
		})
	}
}

func strategy(step string) string {
	return "seeds \"s\" {\n  path = \"data/seeds.jsonl\"\n}\nstrategy \"r\" {\n  input {\n    seeds = seeds.s\n  }\n  step \"a\" {\n    " + step + "\n  }\n  emit {\n    prompt   = \"seed.prompt\"\n    response = \"steps.a.text\"\n  }\n}"
}

func lineOf(src, part string) int {
	if part == "" {
		return 1
	}
	i := strings.Index(src, part)
	if i < 0 {
		return 1
	}
	return strings.Count(src[:i], "\n") + 1
}
