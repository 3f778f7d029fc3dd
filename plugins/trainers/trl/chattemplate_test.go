package trl

import (
	"os"
	"os/exec"
	"testing"
)

// TestChatTemplatesRender renders the shipped chat templates with Jinja2,
// as transformers does, and compares the text with the turn format each
// names.
func TestChatTemplatesRender(t *testing.T) {
	if err := exec.Command("python3", "-c", "import jinja2").Run(); err != nil {
		if os.Getenv("POLYGLOT_REQUIRE_TOOLS") != "" {
			t.Fatal("python3 with jinja2 is needed to render the chat templates")
		}
		t.Skip("python3 with jinja2 not installed")
	}
	const render = `import jinja2, sys
t = jinja2.Environment().from_string(sys.argv[1])
msgs = [{"role": "system", "content": "S"}, {"role": "user", "content": " hi "}, {"role": "assistant", "content": "yo"}]
sys.stdout.write(t.render(bos_token="<B>", messages=msgs, add_generation_prompt=False))`
	want := map[string]string{
		"llama-3.1": "<B><|start_header_id|>system<|end_header_id|>\n\nS<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nyo<|eot_id|>",
		"chatml":    "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\n hi <|im_end|>\n<|im_start|>assistant\nyo<|im_end|>\n",
	}
	for name, tmpl := range ChatTemplates {
		out, err := exec.Command("python3", "-c", render, tmpl).Output()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if string(out) != want[name] {
			t.Errorf("%s renders\n%q\nwant\n%q", name, out, want[name])
		}
	}
}
