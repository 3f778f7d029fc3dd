package secret

import (
	"context"
	"database/sql"
	"database/sql/driver"

	_ "modernc.org/sqlite" // registers "sqlite", which SQLiteDriver wraps
)

// SQLiteDriver is the database/sql driver name of SQLite with every
// string and byte argument of every statement redacted. The store opens
// its databases with it, so nothing it writes can hold a registered
// secret, whichever table or code path the value took. Queries' arguments
// are redacted too: an INSERT ... RETURNING runs as a query, and a lookup
// then compares the same redacted form that was stored.
const SQLiteDriver = "polyglot-sqlite"

func init() {
	db, err := sql.Open("sqlite", "")
	if err != nil {
		panic(err)
	}
	sql.Register(SQLiteDriver, redactingDriver{db.Driver()})
	db.Close()
}

type redactingDriver struct{ d driver.Driver }

func (d redactingDriver) Open(name string) (driver.Conn, error) {
	c, err := d.d.Open(name)
	if err != nil {
		return nil, err
	}
	return &rconn{c}, nil
}

// redactArgs returns args with string and []byte values redacted, or args
// itself when none holds a secret (or none is registered).
func redactArgs(args []driver.NamedValue) []driver.NamedValue {
	var out []driver.NamedValue
	for i, a := range args {
		var nv any
		switch v := a.Value.(type) {
		case string:
			if r := set.String(v); r != v {
				nv = r
			}
		case []byte:
			if r := set.Bytes(v); len(r) != len(v) || (len(v) > 0 && &r[0] != &v[0]) {
				nv = r
			}
		}
		if nv == nil {
			continue
		}
		if out == nil {
			out = append([]driver.NamedValue(nil), args...)
		}
		out[i].Value = nv
	}
	if out == nil {
		return args
	}
	return out
}

func valuesToNamed(args []driver.Value) []driver.NamedValue {
	out := make([]driver.NamedValue, len(args))
	for i, v := range args {
		out[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	return out
}

func namedToValues(args []driver.NamedValue) []driver.Value {
	out := make([]driver.Value, len(args))
	for i, a := range args {
		out[i] = a.Value
	}
	return out
}

// rconn forwards every interface modernc's connection implements, so
// database/sql keeps its context handling (see sqlite.NewConnector's
// notes on wrappers), and redacts every statement's arguments.
type rconn struct{ c driver.Conn }

var (
	_ driver.Conn               = (*rconn)(nil)
	_ driver.ConnBeginTx        = (*rconn)(nil)
	_ driver.ConnPrepareContext = (*rconn)(nil)
	_ driver.ExecerContext      = (*rconn)(nil)
	_ driver.QueryerContext     = (*rconn)(nil)
	_ driver.Pinger             = (*rconn)(nil)
	_ driver.SessionResetter    = (*rconn)(nil)
	_ driver.Validator          = (*rconn)(nil)
)

func (c *rconn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *rconn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	var s driver.Stmt
	var err error
	if p, ok := c.c.(driver.ConnPrepareContext); ok {
		s, err = p.PrepareContext(ctx, query)
	} else {
		s, err = c.c.Prepare(query)
	}
	if err != nil {
		return nil, err
	}
	return &rstmt{s}, nil
}

func (c *rconn) Close() error { return c.c.Close() }

func (c *rconn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *rconn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if b, ok := c.c.(driver.ConnBeginTx); ok {
		return b.BeginTx(ctx, opts)
	}
	return c.c.Begin() //nolint:staticcheck // fallback for drivers without BeginTx
}

func (c *rconn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	args = redactArgs(args)
	if e, ok := c.c.(driver.ExecerContext); ok {
		return e.ExecContext(ctx, query, args)
	}
	if e, ok := c.c.(driver.Execer); ok { //nolint:staticcheck
		return e.Exec(query, namedToValues(args))
	}
	return nil, driver.ErrSkip
}

func (c *rconn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	args = redactArgs(args)
	if q, ok := c.c.(driver.QueryerContext); ok {
		return q.QueryContext(ctx, query, args)
	}
	if q, ok := c.c.(driver.Queryer); ok { //nolint:staticcheck
		return q.Query(query, namedToValues(args))
	}
	return nil, driver.ErrSkip
}

func (c *rconn) Ping(ctx context.Context) error {
	if p, ok := c.c.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

func (c *rconn) ResetSession(ctx context.Context) error {
	if r, ok := c.c.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c *rconn) IsValid() bool {
	if v, ok := c.c.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

type rstmt struct{ s driver.Stmt }

var (
	_ driver.StmtExecContext  = (*rstmt)(nil)
	_ driver.StmtQueryContext = (*rstmt)(nil)
)

func (s *rstmt) Close() error  { return s.s.Close() }
func (s *rstmt) NumInput() int { return s.s.NumInput() }

func (s *rstmt) Exec(args []driver.Value) (driver.Result, error) {
	return s.ExecContext(context.Background(), valuesToNamed(args))
}

func (s *rstmt) Query(args []driver.Value) (driver.Rows, error) {
	return s.QueryContext(context.Background(), valuesToNamed(args))
}

func (s *rstmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	args = redactArgs(args)
	if e, ok := s.s.(driver.StmtExecContext); ok {
		return e.ExecContext(ctx, args)
	}
	return s.s.Exec(namedToValues(args)) //nolint:staticcheck
}

func (s *rstmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	args = redactArgs(args)
	if q, ok := s.s.(driver.StmtQueryContext); ok {
		return q.QueryContext(ctx, args)
	}
	return s.s.Query(namedToValues(args)) //nolint:staticcheck
}
