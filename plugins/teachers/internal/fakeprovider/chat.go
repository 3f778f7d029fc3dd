package fakeprovider

import (
	"net/http"
)

// serveChat is the synchronous path shared by all dialects: count, check
// the key, check the shape, inject a fault or answer.
func (s *Server) serveChat(w http.ResponseWriter, r *http.Request, d *dialect, route, presentedKey string, parse func([]byte) (*chat, error), render func(*chat, answer, bool) []byte) {
	body, err := readBody(r)
	n := s.count(route, r, body)
	if err != nil {
		s.badShape(w, d, "reading the body: %v", err)
		return
	}
	if !s.checkKey(w, d, presentedKey) {
		return
	}
	c, err := parse(body)
	if err != nil {
		s.badShape(w, d, "%v", err)
		return
	}
	f := s.pickFault(n, c.lastUser())
	a := s.answerFor(c)
	success := render(c, a, f == FaultContentFilter)
	if s.applyFault(w, r, d, f, presentedKey, success) {
		return
	}
	writeJSON(w, http.StatusOK, success)
}

// batchFault is how a fault directive shows in a batch line; transport
// faults (hang, truncation) cannot happen inside a batch, so they become
// server errors. A malformed answer is a success whose text is broken
// (see batchAnswer): the batch file itself stays well-formed.
func batchFault(f Fault) (errKind, bool) {
	switch f {
	case "", FaultContentFilter, FaultMalformed:
		return 0, false
	case FaultBadRequest:
		return kindInvalid, true
	case FaultNotFound:
		return kindNotFound, true
	case FaultAuth:
		return kindAuth, true
	case FaultRateLimit, FaultRateLimitBare, FaultRateLimitDate:
		return kindRateLimit, true
	case FaultOverloaded:
		return kindOverloaded, true
	}
	return kindServer, true
}

type batch struct {
	id       string
	polls    int
	created  int64
	endpoint string
	// OpenAI
	inputFile, outputFile, errorFile string
	total, completed, failed         int
	// Anthropic: results JSONL once ended; counts by outcome.
	lines                                      [][]byte
	succeeded, errored, canceled, expired, all int
	ended                                      bool
}

// batchAnswer is answerFor for a batch line: FaultMalformed cuts the text
// in half, so a JSON answer no longer parses while the line, its status
// and its finish reason look like any success (a model that lost track).
func (s *Server) batchAnswer(c *chat, f Fault) answer {
	a := s.answerFor(c)
	if f == FaultMalformed {
		a.Text = a.Text[:len(a.Text)/2]
		s.noteFault(f)
	}
	return a
}

// holdSubmission is called by a batch creation handler once the
// submission is known to be well-formed, before it is accepted. For the
// Options.HoldBatch-th submission it waits until the client gives up or
// the server closes and returns true: the handler then returns without
// accepting the batch or answering.
func (s *Server) holdSubmission(r *http.Request) bool {
	if s.opts.HoldBatch <= 0 || s.submits.Add(1) != int64(s.opts.HoldBatch) {
		return false
	}
	s.mu.Lock()
	s.stats.HeldBatches++
	s.mu.Unlock()
	select {
	case <-r.Context().Done():
	case <-s.quit:
	}
	return true
}
