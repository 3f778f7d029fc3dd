package report

import (
	"fmt"
	"html/template"
	"math"
	"strings"
)

// esc escapes text for SVG/HTML character data and attribute values.
func esc(s string) string { return template.HTMLEscapeString(s) }

// scale maps [lo, hi] to [a, b].
type scale struct{ lo, hi, a, b float64 }

func (s scale) at(v float64) float64 {
	if s.hi == s.lo {
		return (s.a + s.b) / 2
	}
	return s.a + (v-s.lo)/(s.hi-s.lo)*(s.b-s.a)
}

func extent(vs []float64) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, v := range vs {
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	if lo == hi {
		lo, hi = lo-1, hi+1
	}
	pad := (hi - lo) * 0.08
	return lo - pad, hi + pad
}

// ticks returns about n round tick values covering [lo, hi].
func ticks(lo, hi float64, n int) []float64 {
	step := math.Pow(10, math.Floor(math.Log10((hi-lo)/float64(n))))
	for _, m := range []float64{1, 2, 5, 10} {
		if (hi-lo)/(step*m) <= float64(n) {
			step *= m
			break
		}
	}
	var out []float64
	for v := math.Ceil(lo/step) * step; v <= hi+1e-12; v += step {
		out = append(out, math.Round(v/step)*step)
	}
	return out
}

func num(v float64) string {
	switch {
	case math.IsNaN(v):
		return "–"
	case v != 0 && (math.Abs(v) >= 1e5 || math.Abs(v) < 1e-3):
		return fmt.Sprintf("%.2e", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}

type point struct {
	x, y  float64
	label string
}

// scatter draws labelled points with axes, and a fitted line when line is non-nil.
func scatter(id, title, xlab, ylab string, pts []point, line *[2]float64) template.HTML {
	const w, h, ml, mr, mt, mb = 520.0, 360.0, 60.0, 20.0, 30.0, 50.0
	var xs, ys []float64
	for _, p := range pts {
		xs, ys = append(xs, p.x), append(ys, p.y)
	}
	xl, xh := extent(xs)
	yl, yh := extent(ys)
	sx, sy := scale{xl, xh, ml, w - mr}, scale{yl, yh, h - mb, mt}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg id="%s" class="plot" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %g %g" width="%g" height="%g" role="img" aria-labelledby="%s-t">`, esc(id), w, h, w, h, esc(id))
	fmt.Fprintf(&b, `<title id="%s-t">%s</title>`, esc(id), esc(title))
	axes(&b, sx, sy, xl, xh, yl, yh, w, h, ml, mr, mt, mb, xlab, ylab)
	if line != nil {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#c0392b" stroke-dasharray="5 3"/>`,
			sx.at(xl), sy.at(line[0]+line[1]*xl), sx.at(xh), sy.at(line[0]+line[1]*xh))
	}
	for _, p := range pts {
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="4" fill="#2c7fb8" fill-opacity="0.75"><title>%s (%s, %s)</title></circle>`,
			sx.at(p.x), sy.at(p.y), esc(p.label), num(p.x), num(p.y))
		if len(pts) <= 20 {
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="10" fill="#444">%s</text>`, sx.at(p.x)+5, sy.at(p.y)-5, esc(p.label))
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func axes(b *strings.Builder, sx, sy scale, xl, xh, yl, yh, w, h, ml, mr, mt, mb float64, xlab, ylab string) {
	fmt.Fprintf(b, `<rect x="%g" y="%g" width="%g" height="%g" fill="none" stroke="#999"/>`, ml, mt, w-ml-mr, h-mt-mb)
	for _, t := range ticks(xl, xh, 6) {
		x := sx.at(t)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%g" x2="%.1f" y2="%g" stroke="#999"/><text x="%.1f" y="%g" font-size="10" text-anchor="middle">%s</text>`, x, h-mb, x, h-mb+4, x, h-mb+15, num(t))
	}
	for _, t := range ticks(yl, yh, 6) {
		y := sy.at(t)
		fmt.Fprintf(b, `<line x1="%g" y1="%.1f" x2="%g" y2="%.1f" stroke="#eee"/><text x="%g" y="%.1f" font-size="10" text-anchor="end">%s</text>`, ml, y, w-mr, y, ml-4, y+3, num(t))
	}
	fmt.Fprintf(b, `<text x="%g" y="%g" font-size="12" text-anchor="middle">%s</text>`, (ml+w-mr)/2, h-12, esc(xlab))
	fmt.Fprintf(b, `<text x="14" y="%g" font-size="12" text-anchor="middle" transform="rotate(-90 14 %g)">%s</text>`, (mt+h-mb)/2, (mt+h-mb)/2, esc(ylab))
}

// scree draws explained variance bars with the cumulative share as a line.
func scree(id string, explained, cumulative []float64) template.HTML {
	const w, h, ml, mr, mt, mb = 520.0, 300.0, 50.0, 20.0, 20.0, 45.0
	n := len(explained)
	bw := (w - ml - mr) / float64(n)
	sy := scale{0, 1, h - mb, mt}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg id="%s" class="plot" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %g %g" width="%g" height="%g" role="img"><title>Scree plot: variance explained per principal component</title>`, esc(id), w, h, w, h)
	for _, t := range []float64{0, .25, .5, .75, 1} {
		fmt.Fprintf(&b, `<line x1="%g" y1="%.1f" x2="%g" y2="%.1f" stroke="#eee"/><text x="%g" y="%.1f" font-size="10" text-anchor="end">%.0f%%</text>`, ml, sy.at(t), w-mr, sy.at(t), ml-4, sy.at(t)+3, t*100)
	}
	var path []string
	for i, e := range explained {
		x := ml + float64(i)*bw
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#2c7fb8"><title>PC%d: %.1f%%</title></rect>`, x+bw*0.15, sy.at(e), bw*0.7, sy.at(0)-sy.at(e), i+1, e*100)
		fmt.Fprintf(&b, `<text x="%.1f" y="%g" font-size="10" text-anchor="middle">PC%d</text>`, x+bw/2, h-mb+14, i+1)
		path = append(path, fmt.Sprintf("%.1f,%.1f", x+bw/2, sy.at(cumulative[i])))
	}
	fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="#c0392b" stroke-width="2"/>`, strings.Join(path, " "))
	fmt.Fprintf(&b, `<text x="%g" y="%g" font-size="12" text-anchor="middle">component (bars: explained, line: cumulative)</text>`, (ml+w-mr)/2, h-10)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// heatmap draws teachers × languages coloured by PG-Score (diverging around 0).
func heatmap(id string, rows, cols []string, val func(r, c string) (float64, bool)) template.HTML {
	const cw, ch, left, top = 64.0, 24.0, 150.0, 40.0
	w, h := left+cw*float64(len(cols))+10, top+ch*float64(len(rows))+10
	maxAbs := 0.0
	for _, r := range rows {
		for _, c := range cols {
			if v, ok := val(r, c); ok {
				maxAbs = math.Max(maxAbs, math.Abs(v))
			}
		}
	}
	if maxAbs == 0 {
		maxAbs = 1
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg id="%s" class="plot" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %g %g" width="%g" height="%g" role="img"><title>PG-Score per teacher and language</title>`, esc(id), w, h, w, h)
	for j, c := range cols {
		fmt.Fprintf(&b, `<text x="%.1f" y="%g" font-size="12" text-anchor="middle">%s</text>`, left+cw*float64(j)+cw/2, top-10, esc(c))
	}
	for i, r := range rows {
		y := top + ch*float64(i)
		fmt.Fprintf(&b, `<text x="%g" y="%.1f" font-size="12" text-anchor="end">%s</text>`, left-6, y+ch/2+4, esc(r))
		for j, c := range cols {
			x := left + cw*float64(j)
			v, ok := val(r, c)
			if !ok {
				fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%g" height="%g" fill="#f4f4f4" stroke="#fff"><title>%s / %s: no score</title></rect>`, x, y, cw, ch, esc(r), esc(c))
				continue
			}
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%g" height="%g" fill="%s" stroke="#fff"><title>%s / %s: PG %s</title></rect>`, x, y, cw, ch, diverging(v/maxAbs), esc(r), esc(c), num(v))
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="11" text-anchor="middle">%s</text>`, x+cw/2, y+ch/2+4, num(v))
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// diverging maps t in [−1, 1] to red (low) – white – blue (high).
func diverging(t float64) string {
	t = math.Max(-1, math.Min(1, t))
	mix := func(a, b float64) int { return int(math.Round(a + (b-a)*math.Abs(t))) }
	if t < 0 {
		return fmt.Sprintf("rgb(%d,%d,%d)", mix(255, 214), mix(255, 96), mix(255, 77))
	}
	return fmt.Sprintf("rgb(%d,%d,%d)", mix(255, 67), mix(255, 147), mix(255, 195))
}
