package analysis

import (
	"errors"
	"fmt"
	"math"
	"sort"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
)

// Correlation is a rank correlation with its two-sided p-value.
type Correlation struct {
	Rho  float64 `json:"rho"`
	P    float64 `json:"p"`
	N    int     `json:"n"`
	MinN int     `json:"min_n,omitempty"` // the analysis's minimum, when it has one
}

// Ranks returns 1-based ranks, ties getting the average of the ranks they span.
func Ranks(x []float64) []float64 {
	idx := make([]int, len(x))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return x[idx[a]] < x[idx[b]] })
	r := make([]float64, len(x))
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && x[idx[j+1]] == x[idx[i]] {
			j++
		}
		avg := float64(i+j)/2 + 1
		for k := i; k <= j; k++ {
			r[idx[k]] = avg
		}
		i = j + 1
	}
	return r
}

// Spearman is Pearson's correlation of the average ranks; the p-value uses
// t = ρ·√((n−2)/(1−ρ²)) with n−2 degrees of freedom (exact under ties, approximate for small n).
func Spearman(x, y []float64) (Correlation, error) {
	if len(x) != len(y) {
		return Correlation{}, fmt.Errorf("spearman: %d x values but %d y values", len(x), len(y))
	}
	n := len(x)
	if n < 3 {
		return Correlation{N: n}, fmt.Errorf("spearman: need at least 3 pairs, have %d", n)
	}
	rx, ry := Ranks(x), Ranks(y)
	if stat.PopStdDev(rx, nil) == 0 || stat.PopStdDev(ry, nil) == 0 {
		return Correlation{N: n}, errors.New("spearman: one variable is constant, so no correlation is defined")
	}
	rho := stat.Correlation(rx, ry, nil)
	return Correlation{Rho: rho, P: corrP(rho, n), N: n}, nil
}

func corrP(r float64, n int) float64 {
	if math.Abs(r) >= 1 {
		return 0
	}
	t := r * math.Sqrt(float64(n-2)/(1-r*r))
	return twoSided(t, float64(n-2))
}

func twoSided(t, df float64) float64 {
	return 2 * distuv.StudentsT{Mu: 0, Sigma: 1, Nu: df}.Survival(math.Abs(t))
}

// LinearFit is a simple least-squares line y = Intercept + Slope·x.
type LinearFit struct {
	Slope     float64 `json:"slope"`
	Intercept float64 `json:"intercept"`
	SlopeSE   float64 `json:"slope_se"`
	P         float64 `json:"p"` // two-sided, H0: slope = 0
	R2        float64 `json:"r2"`
	N         int     `json:"n"`
	MinN      int     `json:"min_n,omitempty"` // the analysis's minimum, when it has one
}

// OLS fits y on x by least squares, with the slope's standard error from the residual
// variance on n−2 degrees of freedom.
func OLS(x, y []float64) (LinearFit, error) {
	n := len(x)
	if n != len(y) {
		return LinearFit{}, fmt.Errorf("ols: %d x values but %d y values", n, len(y))
	}
	if n < 3 {
		return LinearFit{N: n}, fmt.Errorf("ols: need at least 3 points for a slope and its error, have %d", n)
	}
	mx, my := stat.Mean(x, nil), stat.Mean(y, nil)
	var sxx, sxy, syy float64
	for i := range x {
		dx, dy := x[i]-mx, y[i]-my
		sxx += dx * dx
		sxy += dx * dy
		syy += dy * dy
	}
	if sxx == 0 {
		return LinearFit{N: n}, errors.New("ols: x is constant, so no slope is defined")
	}
	f := LinearFit{N: n, Slope: sxy / sxx}
	f.Intercept = my - f.Slope*mx
	var ssr float64
	for i := range x {
		e := y[i] - f.Intercept - f.Slope*x[i]
		ssr += e * e
	}
	f.SlopeSE = math.Sqrt(ssr / float64(n-2) / sxx)
	if syy > 0 {
		f.R2 = 1 - ssr/syy
	}
	switch {
	case f.SlopeSE > 0:
		f.P = twoSided(f.Slope/f.SlopeSE, float64(n-2))
	case f.Slope != 0:
		f.P = 0
	default:
		f.P = 1
	}
	return f, nil
}

// TTest is Welch's two-sample t-test (unequal variances).
type TTest struct {
	MeanA float64 `json:"mean_a"`
	MeanB float64 `json:"mean_b"`
	Diff  float64 `json:"diff"` // MeanA − MeanB
	T     float64 `json:"t"`
	DF    float64 `json:"df"` // Welch–Satterthwaite
	P     float64 `json:"p"`  // two-sided
	NA    int     `json:"n_a"`
	NB    int     `json:"n_b"`
}

// WelchT tests whether two groups have different means.
func WelchT(a, b []float64) (TTest, error) {
	if len(a) < 2 || len(b) < 2 {
		return TTest{NA: len(a), NB: len(b)}, fmt.Errorf("welch t-test: each group needs at least 2 values (have %d and %d)", len(a), len(b))
	}
	ma, va := stat.MeanVariance(a, nil)
	mb, vb := stat.MeanVariance(b, nil)
	qa, qb := va/float64(len(a)), vb/float64(len(b))
	t := TTest{MeanA: ma, MeanB: mb, Diff: ma - mb, NA: len(a), NB: len(b)}
	if qa+qb == 0 {
		return t, errors.New("welch t-test: both groups are constant, so the test is undefined")
	}
	t.T = t.Diff / math.Sqrt(qa+qb)
	t.DF = (qa + qb) * (qa + qb) / (qa*qa/float64(len(a)-1) + qb*qb/float64(len(b)-1))
	t.P = twoSided(t.T, t.DF)
	return t, nil
}
