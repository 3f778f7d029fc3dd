package analysis

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat"
)

// PCA is a principal component analysis.
type PCA struct {
	Set      string   `json:"set"` // PCAScored or PCAStudy
	N        int      `json:"n"`   // cells analysed
	MinN     int      `json:"min_n"`
	Features []string `json:"features"`
	// Components is how many leading components the regressions use, and ComponentsRule
	// how that number was chosen.
	Components     int    `json:"components"`
	ComponentsRule string `json:"components_rule"`
	// Variance per component: eigenvalues of the population covariance (divisor n) of the
	// analysed data, so that standardised features give the correlation matrix's eigenvalues.
	Variance   []float64   `json:"variance"`
	Explained  []float64   `json:"explained"`  // share of total variance per component
	Cumulative []float64   `json:"cumulative"` // running sum of Explained
	Loadings   [][]float64 `json:"loadings"`   // [component][feature], unit-length eigenvectors
	Scores     [][]float64 `json:"scores"`     // [observation][component]
	// Standardized says whether each feature was z-scored (population SD) first.
	Standardized bool `json:"standardized"`
}

// standardizer holds column means and SDs so that new rows are scaled like the fitted ones.
type standardizer struct{ mean, sd []float64 }

func fitStandardizer(x [][]float64, scale bool) standardizer {
	d := len(x[0])
	s := standardizer{mean: make([]float64, d), sd: make([]float64, d)}
	col := make([]float64, len(x))
	for j := range d {
		for i := range x {
			col[i] = x[i][j]
		}
		s.mean[j], s.sd[j] = stat.PopMeanStdDev(col, nil)
		if !scale {
			s.sd[j] = 1
		}
	}
	return s
}

func (s standardizer) apply(x [][]float64) *mat.Dense {
	m := mat.NewDense(len(x), len(s.mean), nil)
	for i, row := range x {
		for j, v := range row {
			// A constant feature carries no information; 0 keeps it out of the components.
			if s.sd[j] > 0 {
				m.Set(i, j, (v-s.mean[j])/s.sd[j])
			}
		}
	}
	return m
}

// pcaFit returns components as columns of a d×d matrix and their variances.
func pcaFit(z *mat.Dense) (*mat.Dense, []float64, error) {
	var pc stat.PC
	if ok := pc.PrincipalComponents(z, nil); !ok {
		return nil, nil, errors.New("pca: the decomposition failed")
	}
	var vecs mat.Dense
	pc.VectorsTo(&vecs)
	vars := pc.VarsTo(nil)
	r, c := vecs.Dims()
	// Eigenvectors have arbitrary sign; make the largest-magnitude loading positive so
	// results are reproducible and comparable between runs.
	for k := range c {
		best := 0.0
		for i := range r {
			if v := vecs.At(i, k); math.Abs(v) > math.Abs(best) {
				best = v
			}
		}
		if best < 0 {
			for i := range r {
				vecs.Set(i, k, -vecs.At(i, k))
			}
		}
	}
	return &vecs, vars, nil
}

// PCAOf analyses rows of observations × features. With standardize, every feature is
// z-scored with its population SD first (the analysis of docs/method.md §6).
func PCAOf(x [][]float64, features []string, standardize bool) (*PCA, error) {
	if len(x) < 2 {
		return nil, fmt.Errorf("pca: need at least 2 observations, have %d", len(x))
	}
	for i, row := range x {
		if len(row) != len(features) {
			return nil, fmt.Errorf("pca: row %d has %d values for %d features", i, len(row), len(features))
		}
	}
	z := fitStandardizer(x, standardize).apply(x)
	vecs, vars, err := pcaFit(z)
	if err != nil {
		return nil, err
	}
	n := float64(len(x))
	for k := range vars {
		vars[k] *= (n - 1) / n // gonum divides by n−1
	}
	p := &PCA{Features: features, Variance: vars, Standardized: standardize}
	total := 0.0
	for _, v := range vars {
		total += v
	}
	cum := 0.0
	for k, v := range vars {
		e := 0.0
		if total > 0 {
			e = v / total
		}
		cum += e
		p.Explained = append(p.Explained, e)
		p.Cumulative = append(p.Cumulative, cum)
		l := make([]float64, len(features))
		for j := range features {
			l[j] = vecs.At(j, k)
		}
		p.Loadings = append(p.Loadings, l)
	}
	var sc mat.Dense
	sc.Mul(z, vecs)
	for i := range x {
		p.Scores = append(p.Scores, mat.Row(nil, i, &sc))
	}
	return p, nil
}

// ComponentsFor returns the smallest number of components whose cumulative explained
// variance reaches share.
func (p *PCA) ComponentsFor(share float64) int {
	for k, c := range p.Cumulative {
		if c >= share-1e-12 {
			return k + 1
		}
	}
	return len(p.Cumulative)
}

// Regression reports how well the first K components predict a target.
type Regression struct {
	Target       string  `json:"target"` // TargetBenchmark or TargetPGR
	MinN         int     `json:"min_n"`
	K            int     `json:"k"`
	Folds        int     `json:"folds"`
	N            int     `json:"n"`
	HeldOutR2    float64 `json:"held_out_r2"` // 1 − SS(out-of-fold residuals)/SS(total)
	HeldOutRMSE  float64 `json:"held_out_rmse"`
	InSampleR2   float64 `json:"in_sample_r2"` // fitted and scored on the same data, for contrast only
	InSampleRMSE float64 `json:"in_sample_rmse"`
}

// RegressOnComponents fits y ~ 1 + first k principal components of the standardised x and
// reports k-fold held-out R² and RMSE. Standardisation and PCA are refitted inside every
// training fold and applied to its held-out fold, so nothing of the held-out data leaks
// into the model. Folds are a seeded shuffle, so results are reproducible.
func RegressOnComponents(x [][]float64, y []float64, k, folds int, seed uint64) (*Regression, error) {
	n := len(x)
	if n != len(y) {
		return nil, fmt.Errorf("regression: %d rows but %d targets", n, len(y))
	}
	if k < 1 || (n > 0 && k > len(x[0])) {
		return nil, fmt.Errorf("regression: k = %d components must be between 1 and the %d features", k, len(x[0]))
	}
	if folds < 2 || folds > n {
		return nil, fmt.Errorf("regression: %d folds for %d observations; need 2 <= folds <= observations", folds, n)
	}
	if n-(n+folds-1)/folds < k+2 {
		return nil, fmt.Errorf("regression: %d observations are too few to fit %d components with %d-fold cross-validation (each training fold needs at least %d)", n, k, folds, k+2)
	}
	r := &Regression{K: k, Folds: folds, N: n}
	my := stat.Mean(y, nil)
	var sst float64
	for _, v := range y {
		sst += (v - my) * (v - my)
	}
	pred, err := fitPredict(x, y, x, k)
	if err != nil {
		return nil, err
	}
	r.InSampleR2, r.InSampleRMSE = scores(y, pred, sst)

	perm := rand.New(rand.NewPCG(seed, 11)).Perm(n)
	out := make([]float64, n)
	for f := range folds {
		var trX, teX [][]float64
		var trY []float64
		var teIdx []int
		for pos, i := range perm {
			if pos%folds == f {
				teX, teIdx = append(teX, x[i]), append(teIdx, i)
			} else {
				trX, trY = append(trX, x[i]), append(trY, y[i])
			}
		}
		p, err := fitPredict(trX, trY, teX, k)
		if err != nil {
			return nil, fmt.Errorf("regression fold %d: %w", f+1, err)
		}
		for j, i := range teIdx {
			out[i] = p[j]
		}
	}
	r.HeldOutR2, r.HeldOutRMSE = scores(y, out, sst)
	return r, nil
}

func scores(y, pred []float64, sst float64) (r2, rmse float64) {
	var sse float64
	for i := range y {
		sse += (y[i] - pred[i]) * (y[i] - pred[i])
	}
	rmse = math.Sqrt(sse / float64(len(y)))
	if sst > 0 {
		r2 = 1 - sse/sst
	}
	return r2, rmse
}

// fitPredict standardises and decomposes the training rows, fits OLS on the first k
// component scores, and predicts the test rows.
func fitPredict(trX [][]float64, trY []float64, teX [][]float64, k int) ([]float64, error) {
	st := fitStandardizer(trX, true)
	z := st.apply(trX)
	vecs, vars, err := pcaFit(z)
	if err != nil {
		return nil, err
	}
	// Components without variance (collinear features) would make the fit singular.
	for k > 1 && vars[k-1] <= 1e-10*vars[0] {
		k--
	}
	design := func(m *mat.Dense) *mat.Dense {
		var s mat.Dense
		s.Mul(m, vecs.Slice(0, vecs.RawMatrix().Rows, 0, k))
		rows, _ := s.Dims()
		d := mat.NewDense(rows, k+1, nil)
		for i := range rows {
			d.Set(i, 0, 1)
			for j := range k {
				d.Set(i, j+1, s.At(i, j))
			}
		}
		return d
	}
	a := design(z)
	beta, err := LeastSquares(a, trY)
	if err != nil {
		return nil, err
	}
	var p mat.VecDense
	p.MulVec(design(st.apply(teX)), beta)
	return p.RawVector().Data, nil
}

// LeastSquares solves min ‖A·β − y‖ by QR decomposition.
func LeastSquares(a *mat.Dense, y []float64) (*mat.VecDense, error) {
	r, c := a.Dims()
	if r < c {
		return nil, fmt.Errorf("least squares: %d rows for %d coefficients", r, c)
	}
	var qr mat.QR
	qr.Factorize(a)
	var beta mat.VecDense
	if err := qr.SolveVecTo(&beta, false, mat.NewVecDense(len(y), append([]float64(nil), y...))); err != nil {
		return nil, fmt.Errorf("least squares: %w (the predictors are collinear)", err)
	}
	return &beta, nil
}
