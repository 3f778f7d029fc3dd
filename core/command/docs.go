package command

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/polyglot-teachers/polyglot/core/pluginhost"
	"github.com/polyglot-teachers/polyglot/core/spec"
)

func init() {
	register(cmd{name: "docs", synopsis: "print the spec reference (Markdown)", run: runDocs,
		usage: "docs [flags]",
		help:  "Prints the reference of the spec language as Markdown: every block, its\nattributes, types, defaults and allowed values. With --plugins, also the\nconfig {} attributes of each built-in plugin. docs/spec.md is this output:\n  polyglot docs --plugins > docs/spec.md"})
}

func runDocs(ctx context.Context, env *Env, args []string) error {
	fs := newFlags("docs")
	withPlugins := fs.Bool("plugins", false, "also print the config schema of every built-in plugin")
	if _, err := parseArgs(fs, args, 0); err != nil {
		return err
	}
	if _, err := io.WriteString(env.Stdout, spec.Reference()); err != nil {
		return err
	}
	if !*withPlugins {
		return nil
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding the polyglot binary to describe built-in plugins: %w", err)
	}
	var b strings.Builder
	b.WriteString("\n<a id=\"plugins\"></a>\n## Built-in plugins\n\n")
	b.WriteString("The attributes each built-in plugin takes in a `config { ... }` block. ")
	b.WriteString("Installed plugins describe themselves with `polyglot plugins describe NAME`.\n")
	for _, name := range builtinNames(env) {
		// Each built-in is described by the same path a run uses: the
		// binary re-executed as the plugin, so the schema is the served one.
		d, err := pluginhost.DescribeBinary(ctx, self, "internal-plugin", name)
		if err != nil {
			return fmt.Errorf("describing built-in plugin %q: %w", name, err)
		}
		if err := writePluginDocs(&b, d); err != nil {
			return fmt.Errorf("built-in plugin %q: %w", name, err)
		}
	}
	_, err = io.WriteString(env.Stdout, b.String())
	return err
}

// describedAttr is one entry of a component's "config" list in the
// plugin's describe output (sdk.Describe).
type describedAttr struct {
	Name        string          `json:"name"`
	Type        json.RawMessage `json:"type"`
	Required    bool            `json:"required"`
	Sensitive   bool            `json:"sensitive"`
	Description string          `json:"description"`
}

func writePluginDocs(b *strings.Builder, d *pluginhost.DescribeOutput) error {
	fmt.Fprintf(b, "\n### Plugin `%s`\n", d.Name)
	for _, c := range d.Components {
		ref := d.Name
		if c.Name != d.Name {
			ref = d.Name + "/" + c.Name
		}
		fmt.Fprintf(b, "\n#### %s `%s`\n\n", c.Kind, ref)
		if c.Description != "" {
			fmt.Fprintf(b, "%s\n\n", strings.TrimSpace(c.Description))
		}
		var attrs []describedAttr
		if len(c.Config) > 0 {
			if err := json.Unmarshal(c.Config, &attrs); err != nil {
				return fmt.Errorf("component %q: config schema is not a list of attributes: %w", c.Name, err)
			}
		}
		if len(attrs) == 0 {
			b.WriteString("No config attributes.\n")
			continue
		}
		b.WriteString("| attribute | type | required | description |\n|---|---|---|---|\n")
		for _, a := range attrs {
			ty := "any"
			if len(a.Type) > 0 {
				t, err := ctyjson.UnmarshalType(a.Type)
				if err != nil {
					return fmt.Errorf("component %q attribute %q: type %s: %w", c.Name, a.Name, a.Type, err)
				}
				ty = spec.TypeString(t)
			}
			if a.Sensitive {
				ty += ", sensitive"
			}
			req := "no"
			if a.Required {
				req = "**yes**"
			}
			desc := strings.ReplaceAll(strings.Join(strings.Fields(a.Description), " "), "|", "\\|")
			fmt.Fprintf(b, "| `%s` | %s | %s | %s |\n", a.Name, ty, req, desc)
		}
	}
	return nil
}
