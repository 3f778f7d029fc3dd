package spec

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

const limitsHead = `experiment "x" {
  languages = ["de"]
}
`

// TestHostileSpecsAreRefusedNotFatal: inputs that overflowed the Go stack
// in hclsyntax (and killed the process) get a diagnostic at their line.
func TestHostileSpecsAreRefusedNotFatal(t *testing.T) {
	n := 200000
	cases := []struct {
		name, body, summary string
	}{
		{"parentheses", "locals {\n  x = " + strings.Repeat("(", n) + "1" + strings.Repeat(")", n) + "\n}\n", "Nesting too deep"},
		{"lists", "locals {\n  x = " + strings.Repeat("[", n) + strings.Repeat("]", n) + "\n}\n", "Nesting too deep"},
		{"objects", "locals {\n  x = " + strings.Repeat("{a=", n) + "1" + strings.Repeat("}", n) + "\n}\n", "Nesting too deep"},
		{"interpolations", "locals {\n  x = \"" + strings.Repeat("${\"", n/2) + strings.Repeat("\"}", n/2) + "\"\n}\n", "Nesting too deep"},
		{"sum of 1M terms", "locals {\n  x = " + strings.Repeat("1+", 1000000) + "1\n}\n", "Expression too large"},
		{"negations", "locals {\n  x = " + strings.Repeat("-", n) + "1\n}\n", "Expression too large"},
		{"ternaries", "locals {\n  x = " + strings.Repeat("true ? 1 : ", 20000) + "2\n}\n", "Expression too large"},
		{"sum over lines", "locals {\n  x = (" + strings.Repeat("1 +\n", 20000) + "1)\n}\n", "Expression too large"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "main.hcl")
			if err := os.WriteFile(p, []byte(limitsHead+c.body), 0o644); err != nil {
				t.Fatal(err)
			}
			_, diags := LoadFiles([]string{p}, LoadOptions{Env: noEnv})
			if len(diags) != 1 || diags[0].Summary != c.summary || diags[0].Subject == nil || diags[0].Subject.Start.Line != 5 {
				t.Fatalf("want one %q at main.hcl:5, got %v", c.summary, diags)
			}
		})
	}
}

// TestLimitsLeaveLargeOrdinarySpecsAlone: a long list and a wide object
// are not expressions too large.
func TestLimitsLeaveLargeOrdinarySpecsAlone(t *testing.T) {
	var b strings.Builder
	b.WriteString(limitsHead + "locals {\n  tags = [\n")
	for i := 0; i < 5000; i++ {
		b.WriteString("    \"de\",\n")
	}
	b.WriteString("  ]\n  m = {\n")
	for i := 0; i < 5000; i++ {
		b.WriteString("    k" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + "_" + itoa(i) + " = 1 + 2 * 3\n")
	}
	b.WriteString("  }\n}\n")
	p := filepath.Join(t.TempDir(), "main.hcl")
	os.WriteFile(p, []byte(b.String()), 0o644)
	if _, diags := LoadFiles([]string{p}, LoadOptions{Env: noEnv}); diags.HasErrors() {
		t.Fatalf("ordinary large spec refused: %v", diags)
	}
}

func itoa(i int) string {
	s := ""
	for {
		s = string(rune('0'+i%10)) + s
		i /= 10
		if i == 0 {
			return s
		}
	}
}

// TestDeepVarValueIsAString: a -var value too deep to parse is kept as the
// string it is rather than crashing the parser.
func TestDeepVarValueIsAString(t *testing.T) {
	raw := strings.Repeat("[", 200000)
	v := parseVarValue(raw)
	if v.AsString() != raw {
		t.Fatal("deep -var value changed")
	}
}

// TestSpecMustBeARegularFile: a FIFO named like a spec hung validate.
func TestSpecMustBeARegularFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "main.hcl")
	if err := syscall.Mkfifo(p, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, diags := LoadFiles([]string{p}, LoadOptions{Env: noEnv})
		if len(diags) != 1 || diags[0].Summary != "Spec is not a regular file" {
			t.Errorf("got %v", diags)
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		// Unblock the reader so the test binary can exit.
		if f, err := os.OpenFile(p, os.O_WRONLY, 0); err == nil {
			f.Close()
		}
		t.Fatal("loading a FIFO spec hung")
	}
}

// BenchmarkPrescan compares the limits scan with the parse it guards, on
// the paper example's spec files (the largest in the repository).
func BenchmarkPrescan(b *testing.B) {
	files, _ := filepath.Glob("../../examples/paper/*.hcl")
	var srcs [][]byte
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		srcs = append(srcs, src)
	}
	b.Run("scan", func(b *testing.B) {
		for b.Loop() {
			for i, s := range srcs {
				if d := checkLimits(s, files[i], hcl.InitialPos); d != nil {
					b.Fatal(d)
				}
			}
		}
	})
	b.Run("parse", func(b *testing.B) {
		for b.Loop() {
			for i, s := range srcs {
				if _, d := hclsyntax.ParseConfig(s, files[i], hcl.InitialPos); d.HasErrors() {
					b.Fatal(d)
				}
			}
		}
	})
}
