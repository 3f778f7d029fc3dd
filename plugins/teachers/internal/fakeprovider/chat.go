package fakeprovider

import (
	"fmt"
	"net/http"
	"time"
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
	if s.isMissing(c.Model) {
		s.noteFault(FaultNotFound)
		s.writeError(w, d, kindNotFound, fmt.Sprintf("model %q not found, try pulling it first", c.Model), 0)
		return
	}
	f := s.pickFault(n, c.lastUser())
	a := s.answerFor(c)
	success := render(c, a, f == FaultContentFilter)
	if s.applyFault(w, r, d, f, presentedKey, success) {
		return
	}
	if s.opts.AnswerDelay > 0 {
		t := time.NewTimer(s.opts.AnswerDelay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		case <-s.quit:
			return
		}
	}
	writeJSON(w, http.StatusOK, success)
}

// SetMissingModels makes the server answer 404 (model not found) to every
// chat request for these models, as a local server does for a model not
// pulled yet; called again with other names (or none), it "pulls" them.
func (s *Server) SetMissingModels(models ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.missing = map[string]bool{}
	for _, m := range models {
		s.missing[m] = true
	}
}

func (s *Server) isMissing(model string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.missing[model]
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
