package analysis

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

func close(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol {
		t.Errorf("%s = %.10g, want %.10g", what, got, want)
	}
}

// Lindsay Smith, "A tutorial on Principal Components Analysis" (2002): the 10-point 2-D
// example. Her eigenvalues (sample covariance, divisor n−1) are 1.28402771 and
// 0.0490833989, the first eigenvector (−0.677873399, −0.735178656). PCAOf reports the
// population covariance (divisor n), i.e. those eigenvalues × 9/10, and fixes the sign so
// that the largest loading is positive.
var smithX = []float64{2.5, 0.5, 2.2, 1.9, 3.1, 2.3, 2, 1, 1.5, 1.1}
var smithY = []float64{2.4, 0.7, 2.9, 2.2, 3.0, 2.7, 1.6, 1.1, 1.6, 0.9}

func smith() [][]float64 {
	var rows [][]float64
	for i := range smithX {
		rows = append(rows, []float64{smithX[i], smithY[i]})
	}
	return rows
}

func TestPCATextbook(t *testing.T) {
	p, err := PCAOf(smith(), []string{"x", "y"}, false)
	if err != nil {
		t.Fatal(err)
	}
	close(t, "λ1", p.Variance[0], 1.28402771*0.9, 1e-8)
	close(t, "λ2", p.Variance[1], 0.0490833989*0.9, 1e-8)
	close(t, "loading 1,x", p.Loadings[0][0], 0.677873399, 1e-8)
	close(t, "loading 1,y", p.Loadings[0][1], 0.735178656, 1e-8)
	close(t, "explained 1", p.Explained[0], 1.28402771/(1.28402771+0.0490833989), 1e-8)
	close(t, "cumulative 2", p.Cumulative[1], 1, 1e-12)
	// Smith's transformed data: first point projects to 0.827970186 on component 1.
	close(t, "score[0][0]", p.Scores[0][0], 0.827970186, 1e-8)

	// Standardised, two features with correlation r: eigenvalues 1 ± r, loadings ±1/√2.
	mx, my := 1.81, 1.91 // means, by hand
	var sxy, sxx, syy float64
	for i := range smithX {
		sxy += (smithX[i] - mx) * (smithY[i] - my)
		sxx += (smithX[i] - mx) * (smithX[i] - mx)
		syy += (smithY[i] - my) * (smithY[i] - my)
	}
	r := sxy / math.Sqrt(sxx*syy)
	ps, err := PCAOf(smith(), []string{"x", "y"}, true)
	if err != nil {
		t.Fatal(err)
	}
	close(t, "std λ1", ps.Variance[0], 1+r, 1e-10)
	close(t, "std λ2", ps.Variance[1], 1-r, 1e-10)
	close(t, "std loading", ps.Loadings[0][0], 1/math.Sqrt2, 1e-10)
	close(t, "std loading 2", math.Abs(ps.Loadings[1][1]), 1/math.Sqrt2, 1e-10)
	if ps.ComponentsFor(0.9) != 1 || ps.ComponentsFor(0.999) != 2 {
		t.Errorf("ComponentsFor: %d, %d", ps.ComponentsFor(0.9), ps.ComponentsFor(0.999))
	}
}

func TestRanksAndSpearmanWithTies(t *testing.T) {
	x := []float64{1, 2, 2, 3, 4}
	y := []float64{2, 1, 3, 3, 5}
	wantRx := []float64{1, 2.5, 2.5, 4, 5}
	for i, r := range Ranks(x) {
		close(t, "rank", r, wantRx[i], 0)
	}
	// By hand: rank deviations dx = (−2, −.5, −.5, 1, 2), dy = (−1, −2, .5, .5, 2);
	// Σdxdy = 7.25, Σdx² = Σdy² = 9.5, so ρ = 7.25/9.5.
	c, err := Spearman(x, y)
	if err != nil {
		t.Fatal(err)
	}
	rho := 7.25 / 9.5
	close(t, "rho", c.Rho, rho, 1e-12)
	// Two-sided p for t on 3 df, from the closed-form t(3) CDF:
	// p = 1 − (2/π)(θ + sinθ·cosθ), θ = atan(t/√3).
	tt := rho * math.Sqrt(3/(1-rho*rho))
	th := math.Atan(tt / math.Sqrt(3))
	close(t, "p", c.P, 1-(2/math.Pi)*(th+math.Sin(th)*math.Cos(th)), 1e-10)

	if _, err := Spearman([]float64{1, 1, 1}, []float64{1, 2, 3}); err == nil {
		t.Error("constant input must be an error")
	}
	if _, err := Spearman([]float64{1, 2}, []float64{1, 2}); err == nil {
		t.Error("two points must be an error")
	}
}

func TestOLSClosedForm(t *testing.T) {
	// x = 1..4, y = 2, 3, 5, 6: Sxx = 5, Sxy = 7 → slope 1.4, intercept 0.5;
	// residuals .1, −.3, .3, −.1 → SSR .2, s² = .1, SE = √(.1/5); t = 1.4/SE on 2 df,
	// whose two-sided p is 1 − t/√(2 + t²); R² = 1 − .2/10.
	f, err := OLS([]float64{1, 2, 3, 4}, []float64{2, 3, 5, 6})
	if err != nil {
		t.Fatal(err)
	}
	se := math.Sqrt(0.1 / 5)
	tt := 1.4 / se
	close(t, "slope", f.Slope, 1.4, 1e-12)
	close(t, "intercept", f.Intercept, 0.5, 1e-12)
	close(t, "SE", f.SlopeSE, se, 1e-12)
	close(t, "p", f.P, 1-tt/math.Sqrt(2+tt*tt), 1e-10)
	close(t, "R2", f.R2, 0.98, 1e-12)

	// Multiple regression by QR against the normal equations β = (XᵀX)⁻¹Xᵀy.
	rng := rand.New(rand.NewPCG(1, 2))
	n := 30
	X := mat.NewDense(n, 3, nil)
	y := make([]float64, n)
	for i := range n {
		a, b := rng.NormFloat64(), rng.NormFloat64()
		X.SetRow(i, []float64{1, a, b})
		y[i] = 1 + 2*a - 3*b + 0.1*rng.NormFloat64()
	}
	beta, err := LeastSquares(X, y)
	if err != nil {
		t.Fatal(err)
	}
	var xtx, inv mat.Dense
	xtx.Mul(X.T(), X)
	if err := inv.Inverse(&xtx); err != nil {
		t.Fatal(err)
	}
	var xty, want mat.VecDense
	xty.MulVec(X.T(), mat.NewVecDense(n, y))
	want.MulVec(&inv, &xty)
	for i := range 3 {
		close(t, "beta", beta.AtVec(i), want.AtVec(i), 1e-9)
	}
	if _, err := OLS([]float64{2, 2, 2}, []float64{1, 2, 3}); err == nil {
		t.Error("constant x must be an error")
	}
}

func TestWelchT(t *testing.T) {
	// a = (1, 3), b = (4, 6): means 2 and 5, variances 2 and 2 → SE √2, t = −3/√2,
	// Welch df = 2, p = 1 − |t|/√(2 + t²).
	r, err := WelchT([]float64{1, 3}, []float64{4, 6})
	if err != nil {
		t.Fatal(err)
	}
	tt := -3 / math.Sqrt2
	close(t, "t", r.T, tt, 1e-12)
	close(t, "df", r.DF, 2, 1e-12)
	close(t, "p", r.P, 1-math.Abs(tt)/math.Sqrt(2+tt*tt), 1e-10)
	// Unequal variances: a = 1..5 (var 2.5), b = 2,4,..,10 (var 10): df = 2.5²/(.5²/4 + 2²/4).
	r, _ = WelchT([]float64{1, 2, 3, 4, 5}, []float64{2, 4, 6, 8, 10})
	close(t, "df", r.DF, 6.25/(0.0625+1), 1e-12)
	close(t, "t", r.T, -3/math.Sqrt(2.5), 1e-12)
}

func TestRegressionHeldOut(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	var x [][]float64
	var signal, noise []float64
	for range 40 {
		a, b, c := rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64()
		x = append(x, []float64{a, a + 0.1*b, c, b})
		signal = append(signal, 2*a+0.5*c+0.05*rng.NormFloat64())
		noise = append(noise, rng.NormFloat64())
	}
	tests := []struct {
		name     string
		y        []float64
		minHeld  float64
		maxHeld  float64
		wantLess bool // held-out below in-sample
	}{
		{"signal", signal, 0.95, 1, false},
		{"noise", noise, -10, 0.2, true},
	}
	for _, tc := range tests {
		r, err := RegressOnComponents(x, tc.y, 4, 5, 1)
		if err != nil {
			t.Fatal(err)
		}
		if r.HeldOutR2 < tc.minHeld || r.HeldOutR2 > tc.maxHeld {
			t.Errorf("%s: held-out R² %.3f outside [%v, %v]", tc.name, r.HeldOutR2, tc.minHeld, tc.maxHeld)
		}
		if tc.wantLess && !(r.HeldOutR2 < r.InSampleR2 && r.HeldOutRMSE > r.InSampleRMSE) {
			t.Errorf("%s: held-out (R² %.3f, RMSE %.3f) should be worse than in-sample (%.3f, %.3f)", tc.name, r.HeldOutR2, r.HeldOutRMSE, r.InSampleR2, r.InSampleRMSE)
		}
	}
	if _, err := RegressOnComponents(x[:5], signal[:5], 4, 5, 1); err == nil {
		t.Error("too few observations must be an error")
	}
}
