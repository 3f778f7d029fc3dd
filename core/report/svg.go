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
		t := math.Round(v/step) * step
		if t == 0 {
			t = 0 // math.Round(-0.3) is −0, which would print as "-0"
		}
		out = append(out, t)
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
	style int // index into the teacher styles; −1 = plain
}

// palette is the Okabe–Ito colour-blind-safe set plus two; shapes double-code
// teachers so that colour alone never carries the distinction.
var palette = []string{"#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000", "#999999", "#882255"}

var shapes = []string{"circle", "square", "triangle", "diamond", "cross", "triangle-down", "star"}

// styleOf returns the colour and shape of teacher i: unique for the first 70 teachers.
func styleOf(i int) (colour, shape string) {
	if i < 0 {
		return "#2c7fb8", "circle"
	}
	return palette[i%len(palette)], shapes[(i/len(palette)+i)%len(shapes)]
}

// marker draws a filled shape of radius r centred on (x, y), with a hover title.
func marker(b *strings.Builder, style int, x, y, r float64, title string) {
	c, sh := styleOf(style)
	var el string
	switch sh {
	case "square":
		el = fmt.Sprintf(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f"`, x-r*0.85, y-r*0.85, r*1.7, r*1.7)
	case "triangle":
		el = fmt.Sprintf(`<polygon points="%.1f,%.1f %.1f,%.1f %.1f,%.1f"`, x, y-r*1.1, x+r, y+r*0.8, x-r, y+r*0.8)
	case "triangle-down":
		el = fmt.Sprintf(`<polygon points="%.1f,%.1f %.1f,%.1f %.1f,%.1f"`, x, y+r*1.1, x+r, y-r*0.8, x-r, y-r*0.8)
	case "diamond":
		el = fmt.Sprintf(`<polygon points="%.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f"`, x, y-r*1.2, x+r*1.2, y, x, y+r*1.2, x-r*1.2, y)
	case "cross":
		k := r * 0.4
		el = fmt.Sprintf(`<polygon points="%.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f"`,
			x-k, y-r, x+k, y-r, x+k, y-k, x+r, y-k, x+r, y+k, x+k, y+k, x+k, y+r, x-k, y+r, x-k, y+k, x-r, y+k, x-r, y-k, x-k, y-k)
	case "star":
		var pts []string
		for i := range 10 {
			rr := r * 1.2
			if i%2 == 1 {
				rr = r * 0.5
			}
			a := math.Pi/2 + float64(i)*math.Pi/5
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x+rr*math.Cos(a), y-rr*math.Sin(a)))
		}
		el = `<polygon points="` + strings.Join(pts, " ") + `"`
	default:
		el = fmt.Sprintf(`<circle cx="%.1f" cy="%.1f" r="%.1f"`, x, y, r)
	}
	fmt.Fprintf(b, `%s fill="%s" fill-opacity="0.85" stroke="#333" stroke-width="0.6" class="mk">`, el, c)
	if title != "" {
		fmt.Fprintf(b, `<title>%s</title>`, esc(title))
	}
	b.WriteString(`</` + strings.Fields(el)[0][1:] + `>`)
}

// legend draws one row per teacher style (marker and name) starting at (x, y).
func legend(b *strings.Builder, x, y float64, names []string, styles []int) {
	for i, n := range names {
		yy := y + float64(i)*16
		marker(b, styles[i], x+6, yy, 4.5, n)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" font-size="11">%s</text>`, x+16, yy+4, esc(n))
	}
}

// scatter draws labelled points with axes, and a fitted line when line is non-nil.
// Points of the same style (teacher) share colour and shape; a legend names them.
func scatter(id, title, xlab, ylab string, pts []point, line *[2]float64, names []string, styles []int) template.HTML {
	lw := 0.0
	if len(names) > 0 {
		lw = 150
	}
	const h, ml, mr, mt, mb = 360.0, 60.0, 20.0, 30.0, 50.0
	w := 520.0 + lw
	var xs, ys []float64
	for _, p := range pts {
		xs, ys = append(xs, p.x), append(ys, p.y)
	}
	xl, xh := extent(xs)
	yl, yh := extent(ys)
	pr := w - mr - lw
	sx, sy := scale{xl, xh, ml, pr}, scale{yl, yh, h - mb, mt}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg id="%s" class="plot" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %g %g" width="%g" height="%g" role="img" aria-labelledby="%s-t">`, esc(id), w, h, w, h, esc(id))
	fmt.Fprintf(&b, `<title id="%s-t">%s</title>`, esc(id), esc(title))
	fmt.Fprintf(&b, `<text x="%g" y="16" font-size="13" font-weight="bold">%s</text>`, ml, esc(title))
	axes(&b, sx, sy, xl, xh, yl, yh, pr+mr, h, ml, mr, mt, mb, xlab, ylab)
	if line != nil {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#c0392b" stroke-dasharray="5 3"><title>least-squares fit</title></line>`,
			sx.at(xl), sy.at(line[0]+line[1]*xl), sx.at(xh), sy.at(line[0]+line[1]*xh))
	}
	for _, p := range pts {
		marker(&b, p.style, sx.at(p.x), sy.at(p.y), 4.5, fmt.Sprintf("%s (%s, %s)", p.label, num(p.x), num(p.y)))
		if len(pts) <= 12 {
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="10" fill="#444">%s</text>`, sx.at(p.x)+6, sy.at(p.y)-6, esc(p.label))
		}
	}
	if len(names) > 0 {
		fmt.Fprintf(&b, `<text x="%.1f" y="%g" font-size="11" font-weight="bold">teacher</text>`, pr+mr+8, mt+4)
		legend(&b, pr+mr+8, mt+20, names, styles)
		if line != nil {
			yy := mt + 20 + float64(len(names))*16
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#c0392b" stroke-dasharray="5 3"/><text x="%.1f" y="%.1f" font-size="11">fit</text>`, pr+mr+8, yy, pr+mr+20, yy, pr+mr+24, yy+4)
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
	const w, h, ml, mr, mt, mb = 520.0, 300.0, 56.0, 20.0, 20.0, 45.0
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
	fmt.Fprintf(&b, `<text x="%g" y="%g" font-size="12" text-anchor="middle">principal component</text>`, (ml+w-mr)/2, h-10)
	fmt.Fprintf(&b, `<text x="14" y="%g" font-size="12" text-anchor="middle" transform="rotate(-90 14 %g)">variance explained (%%)</text>`, (mt+h-mb)/2, (mt+h-mb)/2)
	lx := w - mr - 150
	fmt.Fprintf(&b, `<rect x="%g" y="%g" width="10" height="10" fill="#2c7fb8"/><text x="%g" y="%g" font-size="11">explained</text>`, lx, mt+2, lx+14, mt+11)
	fmt.Fprintf(&b, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="#c0392b" stroke-width="2"/><text x="%g" y="%g" font-size="11">cumulative</text>`, lx+75, mt+7, lx+90, mt+7, lx+94, mt+11)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// heatmap draws teachers × languages coloured by PG-Score (diverging around 0),
// with a colour legend; best(r, c) marks the best teacher of a language with ★.
func heatmap(id string, rows, cols []string, val func(r, c string) (float64, bool), best func(r, c string) bool) template.HTML {
	const cw, ch, left, top, legendH = 64.0, 24.0, 150.0, 56.0, 60.0
	w := math.Max(left+cw*float64(len(cols))+10, left+450)
	gridH := ch * float64(len(rows))
	h := top + gridH + legendH
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
	fmt.Fprintf(&b, `<text x="%g" y="14" font-size="12" font-weight="bold" text-anchor="middle">language</text>`, left+cw*float64(len(cols))/2)
	fmt.Fprintf(&b, `<text x="%g" y="%g" font-size="12" font-weight="bold" text-anchor="end">teacher</text>`, left-6, top-12)
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
			star, stroke, note := "", `stroke="#fff"`, ""
			if best(r, c) {
				star, stroke, note = "★ ", `stroke="#111" stroke-width="2"`, " (best in "+c+")"
			}
			t := v / maxAbs
			ink := "#111"
			if math.Abs(t) > 0.6 {
				ink = "#fff"
			}
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%g" height="%g" fill="%s" %s><title>%s / %s: PG-Score %s%s</title></rect>`, x+1, y+1, cw-2, ch-2, diverging(t), stroke, esc(r), esc(c), num(v), esc(note))
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="11" text-anchor="middle" fill="%s" pointer-events="none">%s%s</text>`, x+cw/2, y+ch/2+4, ink, star, num(v))
		}
	}
	// Colour legend: a gradient bar from −maxAbs to +maxAbs.
	ly, lx, lw := top+gridH+18, left, 240.0
	fmt.Fprintf(&b, `<defs><linearGradient id="%s-g">`, esc(id))
	for k := 0; k <= 10; k++ {
		fmt.Fprintf(&b, `<stop offset="%d%%" stop-color="%s"/>`, k*10, diverging(-1+float64(k)/5))
	}
	fmt.Fprintf(&b, `</linearGradient></defs><rect x="%g" y="%g" width="%g" height="10" fill="url(#%s-g)" stroke="#999"/>`, lx, ly, lw, esc(id))
	for _, t := range []float64{-1, 0, 1} {
		fmt.Fprintf(&b, `<text x="%g" y="%g" font-size="10" text-anchor="middle">%s</text>`, lx+lw*(t+1)/2, ly+22, num(t*maxAbs))
	}
	fmt.Fprintf(&b, `<text x="%g" y="%g" font-size="11" text-anchor="end">PG-Score</text>`, lx-6, ly+9)
	fmt.Fprintf(&b, `<text x="%g" y="%g" font-size="11">★ best teacher in the language</text>`, lx+lw+12, ly+9)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// forestRow is one teacher in the ranking chart.
type forestRow struct {
	Teacher, Standing string
	PG                float64
	CI                *[2]float64
	Style             int
}

// forest draws the ranking: one row per teacher, its PG-Score as a marker and its
// interval as a bar; the best and the teachers indistinguishable from it are marked.
func forest(id, xlab string, rows []forestRow) template.HTML {
	const ml, mr, mt, rh, mb = 170.0, 170.0, 30.0, 24.0, 50.0
	w := 860.0
	h := mt + rh*float64(len(rows)) + mb
	var xs []float64
	for _, r := range rows {
		xs = append(xs, r.PG)
		if r.CI != nil {
			xs = append(xs, r.CI[0], r.CI[1])
		}
	}
	xl, xh := extent(xs)
	sx := scale{xl, xh, ml, w - mr}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg id="%s" class="plot" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %g %g" width="%g" height="%g" role="img"><title>Ranking: PG-Score per teacher with its interval</title>`, esc(id), w, h, w, h)
	top, bottom := mt, mt+rh*float64(len(rows))
	fmt.Fprintf(&b, `<rect x="%g" y="%g" width="%g" height="%g" fill="none" stroke="#999"/>`, ml, top, w-ml-mr, bottom-top)
	for _, t := range ticks(xl, xh, 6) {
		x := sx.at(t)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%g" x2="%.1f" y2="%g" stroke="%s"/><text x="%.1f" y="%g" font-size="10" text-anchor="middle">%s</text>`, x, top, x, bottom, map[bool]string{true: "#bbb", false: "#eee"}[t == 0], x, bottom+14, num(t))
	}
	fmt.Fprintf(&b, `<text x="%g" y="%g" font-size="12" text-anchor="middle">%s</text>`, (ml+w-mr)/2, bottom+32, esc(xlab))
	fmt.Fprintf(&b, `<text x="%g" y="%g" font-size="12" font-weight="bold" text-anchor="end">teacher (rank)</text>`, ml-8, top-10)
	fmt.Fprintf(&b, `<text x="%g" y="%g" font-size="12" font-weight="bold">vs the best</text>`, w-mr+10, top-10)
	for i, r := range rows {
		y := top + rh*float64(i) + rh/2
		if r.Standing == "best" || r.Standing == "indistinguishable" {
			fmt.Fprintf(&b, `<rect x="%g" y="%.1f" width="%g" height="%g" fill="%s"/>`, ml+1, y-rh/2+1, w-ml-mr-2, rh-2, map[bool]string{true: "#fff3c4", false: "#fdf8e6"}[r.Standing == "best"])
		}
		weight := ""
		if r.Standing == "best" {
			weight = ` font-weight="bold"`
		}
		fmt.Fprintf(&b, `<text x="%g" y="%.1f" font-size="12" text-anchor="end"%s>%s (%d)</text>`, ml-8, y+4, weight, esc(r.Teacher), i+1)
		c, _ := styleOf(r.Style)
		label := fmt.Sprintf("%s: PG-Score %s", r.Teacher, num(r.PG))
		if r.CI != nil {
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2.5"/>`, sx.at(r.CI[0]), y, sx.at(r.CI[1]), y, c)
			for _, e := range r.CI {
				fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"/>`, sx.at(e), y-5, sx.at(e), y+5, c)
			}
			label += fmt.Sprintf(", interval [%s, %s]", num(r.CI[0]), num(r.CI[1]))
		} else {
			label += ", no interval"
		}
		marker(&b, r.Style, sx.at(r.PG), y, 5.5, label)
		var verdict string
		switch r.Standing {
		case "best":
			verdict = "★ best"
		case "indistinguishable":
			verdict = "≈ indistinguishable"
		case "unknown":
			verdict = "? no interval"
		default:
			verdict = "worse"
		}
		fmt.Fprintf(&b, `<text x="%g" y="%.1f" font-size="12"%s>%s</text>`, w-mr+10, y+4, weight, verdict)
	}
	fmt.Fprintf(&b, `<rect x="%g" y="%g" width="12" height="10" fill="#fff3c4" stroke="#ccc"/><text x="%g" y="%g" font-size="10">best</text>`, ml, h-12, ml+16, h-3)
	fmt.Fprintf(&b, `<rect x="%g" y="%g" width="12" height="10" fill="#fdf8e6" stroke="#ccc"/><text x="%g" y="%g" font-size="10">indistinguishable from the best</text>`, ml+60, h-12, ml+76, h-3)
	fmt.Fprintf(&b, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="#555" stroke-width="2.5"/><text x="%g" y="%g" font-size="10">interval</text>`, ml+250, h-7, ml+270, h-7, ml+274, h-3)
	fmt.Fprintf(&b, `<text x="%g" y="%g" font-size="10">marker: PG-Score (colour and shape: teacher)</text>`, ml+330, h-3)
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
