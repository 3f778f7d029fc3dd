package command

import (
	"regexp"
	"strconv"
)

// screen replays what a terminal would show for out, handling the
// control sequences progress output uses: cursor up n and erase below
// (github.com/vbauerster/cupwriter v0.0.5), carriage return and erase
// line, SGR colours (ignored).
func screen(out string) []string {
	lines := []string{""}
	row := 0
	esc := regexp.MustCompile(`^\x1b\[(\d*)([A-Za-z])`)
	for i := 0; i < len(out); {
		if m := esc.FindStringSubmatch(out[i:]); m != nil {
			n, _ := strconv.Atoi(m[1])
			switch m[2] {
			case "A":
				row = max(0, row-max(n, 1))
			case "J":
				lines = append(lines[:row], "")
			case "K":
				lines[row] = ""
			}
			i += len(m[0])
			continue
		}
		switch c := out[i]; c {
		case '\n':
			row++
			if row == len(lines) {
				lines = append(lines, "")
			}
		case '\r':
			lines[row] = ""
		default:
			lines[row] += string(c)
		}
		i++
	}
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}
