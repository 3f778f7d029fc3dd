// Package report writes the results of a polyglot study for people and for tools:
// report.html (one self-contained page: inline CSS, inline SVG plots, a few lines of
// optional inline JavaScript for sorting tables — the page reads fine without it),
// report.md, report.json and CSV tables.
//
// Plots are hand-written SVG (a heatmap, a scree plot and two scatter plots with axes)
// rather than gonum/plot: they need no fonts or extra module, stay a few kilobytes each, and
// every label goes through the same escaping as the rest of the page. All text that comes
// from models or users (teacher names, prompts, responses) is escaped by html/template.
package report
