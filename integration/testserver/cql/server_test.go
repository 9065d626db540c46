package cql

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/datastax/go-cassandra-native-protocol/primitive"
	"gopkg.in/inf.v0"
)

// start runs a server and a gocql session on it with a keyspace "ks".
func start(t *testing.T) (*Server, *gocql.Session) {
	t.Helper()
	s, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	sess := connect(t, s)
	run(t, sess, `CREATE KEYSPACE ks WITH replication = {'class':'SimpleStrategy','replication_factor':1}`)
	return s, sess
}

func connect(t *testing.T, s *Server) *gocql.Session {
	t.Helper()
	c := gocql.NewCluster(s.Host())
	c.Port = s.Port()
	c.ProtoVersion = 4
	c.Timeout = 5 * time.Second
	c.ReconnectInterval = 100 * time.Millisecond
	c.RetryPolicy = &gocql.SimpleRetryPolicy{NumRetries: 0}
	c.Logger = gocql.NewLogger(gocql.LogLevelNone)
	sess, err := c.CreateSession()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sess.Close)
	return sess
}

func run(t *testing.T, sess *gocql.Session, stmt string, values ...any) {
	t.Helper()
	if err := sess.Query(stmt, values...).Exec(); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
}

// TestGocqlTypesRoundTrip writes every type the adapter uses with a prepared INSERT
// and reads it back with gocql's own decoding.
func TestGocqlTypesRoundTrip(t *testing.T) {
	_, sess := start(t)
	run(t, sess, `CREATE TYPE ks.inner (x int, tags frozen<list<text>>, "Mixed.Case" text)`)
	run(t, sess, `CREATE TABLE ks.t (k text, d date, id text, b boolean, i int, l bigint, f float, db double, s text, bl blob,
		dec decimal, ts timestamp, tm time, u uuid, li frozen<list<int>>, m frozen<map<text, bigint>>, r frozen<inner>,
		PRIMARY KEY ((k, d), id))`)
	day := time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)
	ts := time.Date(1901, 6, 1, 0, 0, 0, 1000000, time.UTC)
	u, _ := gocql.ParseUUID("6ba7b810-9dad-11d1-80b4-00c04fd430c8")
	run(t, sess, `INSERT INTO ks.t (k, d, id, b, i, l, f, db, s, bl, dec, ts, tm, u, li, m, r) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		"k", day, "1", true, int32(-5), int64(1)<<62, float32(1.5), -1e300, "Grüße", []byte{0, 255}, inf.NewDec(-1230, 2), ts,
		13*time.Hour+7*time.Microsecond, u, []int32{}, map[string]int64{"a.b": 1}, map[string]any{"x": 3, "tags": []string{"q"}, "Mixed.Case": "m"})
	var (
		b                bool
		i                int32
		l                int64
		f                float32
		db               float64
		s                string
		bl               []byte
		dec              inf.Dec
		gotTS            time.Time
		tm               time.Duration
		gotU             gocql.UUID
		li               []int32
		m                map[string]int64
		r                map[string]any
		gotDay           time.Time
		wrote, wroteNull int64
	)
	err := sess.Query(`SELECT d, b, i, l, f, db, s, bl, dec, ts, tm, u, li, m, r, WRITETIME(b), WRITETIME(s) FROM ks.t WHERE k = ? AND d = ?`, "k", day).
		Scan(&gotDay, &b, &i, &l, &f, &db, &s, &bl, &dec, &gotTS, &tm, &gotU, &li, &m, &r, &wrote, &wroteNull)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case !gotDay.Equal(day) || !b || i != -5 || l != 1<<62 || f != 1.5 || db != -1e300 || s != "Grüße":
		t.Errorf("scalars: %v %v %v %v %v %v %q", gotDay, b, i, l, f, db, s)
	case string(bl) != "\x00\xff" || dec.String() != "-12.30" || !gotTS.Equal(ts) || tm != 13*time.Hour+7*time.Microsecond || gotU != u:
		t.Errorf("blob %x, decimal %s, timestamp %s, time %s, uuid %s", bl, dec.String(), gotTS, tm, gotU)
	case li == nil || len(li) != 0 || m["a.b"] != 1 || r["x"] != 3 || r["Mixed.Case"] != "m":
		t.Errorf("collections: list %#v, map %v, udt %v", li, m, r)
	case wrote == 0 || wrote != wroteNull:
		t.Errorf("write times %d, %d", wrote, wroteNull)
	}
	// A value of the wrong size for its column is refused, as Cassandra refuses it.
	err = sess.Query(`INSERT INTO ks.t (k, d, id, i) VALUES (?, ?, ?, ?)`, "k", day, "2", rawValue{0, 0, 0, 0, 0, 0, 0, 7}).Exec()
	var re gocql.RequestError
	if err == nil || !errors.As(err, &re) || re.Code() != gocql.ErrCodeInvalid {
		t.Errorf("a bigint bound to an int column: %v, want Invalid", err)
	}
}

// rawValue is sent as its bytes, whatever the column's type.
type rawValue []byte

func (v rawValue) MarshalCQL(gocql.TypeInfo) ([]byte, error) { return v, nil }

// TestLastWriteWins checks Cassandra's reconciliation: per cell, the higher write
// timestamp wins; on a tie the greater value.
func TestLastWriteWins(t *testing.T) {
	_, sess := start(t)
	run(t, sess, `CREATE TABLE ks.lww (k text PRIMARY KEY, a text, b text)`)
	run(t, sess, `INSERT INTO ks.lww (k, a, b) VALUES (?, ?, ?) USING TIMESTAMP ?`, "k", "a10", "b10", int64(10))
	run(t, sess, `INSERT INTO ks.lww (k, a) VALUES (?, ?) USING TIMESTAMP ?`, "k", "a9", int64(9))   // older: ignored
	run(t, sess, `INSERT INTO ks.lww (k, b) VALUES (?, ?) USING TIMESTAMP ?`, "k", "b11", int64(11)) // newer: wins its cell
	run(t, sess, `INSERT INTO ks.lww (k, a) VALUES (?, ?) USING TIMESTAMP ?`, "k", "a00", int64(10)) // tie: the greater value stays
	var a, b string
	var wa, wb int64
	if err := sess.Query(`SELECT a, b, WRITETIME(a), WRITETIME(b) FROM ks.lww WHERE k = ?`, "k").Scan(&a, &b, &wa, &wb); err != nil {
		t.Fatal(err)
	}
	if a != "a10" || b != "b11" || wa != 10 || wb != 11 {
		t.Errorf("got a=%s@%d b=%s@%d, want a10@10 b11@11", a, wa, b, wb)
	}
	run(t, sess, `INSERT INTO ks.lww (k, a) VALUES (?, ?) USING TIMESTAMP ?`, "k", nil, int64(10)) // a tombstone wins a tie
	var n int
	if err := sess.Query(`SELECT COUNT(*) FROM ks.lww WHERE k = ?`, "k").Scan(&n); err != nil || n != 1 {
		t.Fatalf("count %d, %v", n, err)
	}
	var pa *string
	if err := sess.Query(`SELECT a FROM ks.lww WHERE k = ?`, "k").Scan(&pa); err != nil || pa != nil {
		t.Errorf("a = %v (%v), want null after a tombstone at the same timestamp", pa, err)
	}
}

// TestBatchAllOrNothing checks that a batch with one bad statement applies none, and
// that prepared statements of an altered table are answered Unprepared (gocql then
// prepares again and sees the new column).
func TestBatchAllOrNothing(t *testing.T) {
	s, sess := start(t)
	run(t, sess, `CREATE TABLE ks.b (k text, id text, v int, PRIMARY KEY ((k), id))`)
	batch := sess.Batch(gocql.UnloggedBatch)
	batch.Query(`INSERT INTO ks.b (k, id, v) VALUES (?, ?, ?)`, "k", "1", 1)
	batch.Query(`INSERT INTO ks.b (k, id, v) VALUES (?, ?, ?)`, "k", nil, 2) // null clustering key: Invalid
	if err := batch.Exec(); err == nil {
		t.Fatal("a batch with a null key was applied")
	}
	var n int
	if err := sess.Query(`SELECT COUNT(*) FROM ks.b WHERE k = ?`, "k").Scan(&n); err != nil || n != 0 {
		t.Fatalf("after a failed batch: %d rows, %v", n, err)
	}
	insert := `INSERT INTO ks.b (k, id, v) VALUES (?, ?, ?)`
	run(t, sess, insert, "k", "1", 1)
	run(t, sess, `ALTER TABLE ks.b ADD w text`)
	from := len(s.Requests())
	run(t, sess, insert, "k", "2", 2) // prepared before the ALTER
	var prepares int
	for _, r := range s.Requests()[from:] {
		if r.Op == "PREPARE" {
			prepares++
		}
	}
	if prepares != 1 {
		t.Errorf("%d PREPAREs after the ALTER, want 1 (the old statement answered Unprepared)", prepares)
	}
	run(t, sess, `INSERT INTO ks.b (k, id, w) VALUES (?, ?, ?)`, "k", "3", "new column")
	if err := sess.Query(`SELECT COUNT(*) FROM ks.b WHERE k = ?`, "k").Scan(&n); err != nil || n != 3 {
		t.Fatalf("%d rows, %v; want 3", n, err)
	}
}

// TestFaultsAndRequestLog checks the fault injection the adapter's tests rely on and
// what the server records of each request.
func TestFaultsAndRequestLog(t *testing.T) {
	s, sess := start(t)
	run(t, sess, `CREATE TABLE ks.f (k text PRIMARY KEY, v text)`)
	insert := `INSERT INTO ks.f (k, v) VALUES (?, ?)`
	code := func(err error) int {
		var re gocql.RequestError
		if errors.As(err, &re) {
			return re.Code()
		}
		return -1
	}

	s.FailNext(2, Overloaded)
	for i := range 2 {
		if err := sess.Query(insert, "a", "x").Exec(); code(err) != gocql.ErrCodeOverloaded {
			t.Fatalf("request %d: %v, want Overloaded", i, err)
		}
	}
	run(t, sess, insert, "a", "x")

	s.FailMatchingN("poison", Invalid, -1)
	s.FailMatching("flaky", Unavailable)
	for i := range 3 {
		if err := sess.Query(insert, "p", "poison").Exec(); code(err) != gocql.ErrCodeInvalid {
			t.Fatalf("poison %d: %v, want Invalid every time", i, err)
		}
	}
	if err := sess.Query(insert, "f", "flaky").Consistency(gocql.LocalQuorum).Exec(); code(err) != gocql.ErrCodeUnavailable {
		t.Fatalf("flaky: %v, want Unavailable", err)
	}
	run(t, sess, insert, "f", "flaky") // once only
	if got := s.PendingMatches(); len(got) != 1 || got[0] != "poison" {
		t.Fatalf("pending %v, want [poison]", got)
	}
	s.ClearFaults()
	run(t, sess, insert, "p", "poison")
	if got := s.PendingMatches(); len(got) != 0 {
		t.Fatalf("pending after ClearFaults: %v", got)
	}

	s.FailNext(1, WriteTimeout)
	batch := sess.Batch(gocql.UnloggedBatch).Consistency(gocql.Two)
	batch.Query(insert, "b1", "x")
	batch.Query(insert, "b2", "y")
	err := batch.Exec()
	var wt *gocql.RequestErrWriteTimeout
	if !errors.As(err, &wt) || wt.WriteType != "UNLOGGED_BATCH" || wt.Consistency != gocql.Two {
		t.Fatalf("batch: %v, want WriteTimeout of an UNLOGGED_BATCH at TWO", err)
	}
	if err := batch.Exec(); err != nil {
		t.Fatal(err)
	}

	// The last requests, as recorded.
	reqs := s.Requests()
	last := reqs[len(reqs)-1]
	if last.Op != "BATCH" || !last.Prepared || last.Statements != 2 || last.BatchType != primitive.BatchTypeUnlogged ||
		last.Consistency != primitive.ConsistencyLevelTwo || last.System || !strings.HasPrefix(last.Query, "INSERT INTO ks.f") {
		t.Errorf("last request %+v", last)
	}
	var system, user int
	for _, r := range reqs {
		if r.System {
			system++
		} else if r.Op != "PREPARE" {
			user++
		}
	}
	if system == 0 || user < 10 || len(s.Consistencies()) != user {
		t.Errorf("%d system and %d user requests recorded, %d consistencies", system, user, len(s.Consistencies()))
	}
}

// TestDownUpResetDelay checks outages: refused connections while down, service on the
// same address after Up, a connection reset, and delayed answers.
func TestDownUpResetDelay(t *testing.T) {
	s, sess := start(t)
	run(t, sess, `CREATE TABLE ks.d (k text PRIMARY KEY, v text)`)
	insert := `INSERT INTO ks.d (k, v) VALUES (?, ?)`

	s.FailNext(1, Reset)
	if err := sess.Query(insert, "r", "x").Exec(); err == nil {
		t.Fatal("a reset connection answered")
	}

	if err := s.Down(); err != nil {
		t.Fatal(err)
	}
	if c, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
		c.Close()
		t.Fatal("the server accepts connections while down")
	}
	if err := s.Down(); err == nil {
		t.Error("Down twice did not complain")
	}
	if err := s.Up(); err != nil {
		t.Fatal(err)
	}
	fresh := connect(t, s) // the old session reconnects on its own schedule; a new one must work now
	run(t, fresh, insert, "u", "after up")

	s.SetDelay(300 * time.Millisecond)
	start := time.Now()
	run(t, fresh, insert, "slow", "x")
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Errorf("a delayed request answered in %s", took)
	}
	s.SetDelay(0)
	var n int
	if err := fresh.Query(`SELECT COUNT(*) FROM ks.d`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("%d rows, %v; want 2 (the reset write was not applied)", n, err)
	}
}

// TestDeletePartitionTombstone checks DELETE of a partition: cells at or below the
// tombstone's timestamp go, writes at or below it stay invisible afterwards, newer
// ones show; other partitions are untouched.
func TestDeletePartitionTombstone(t *testing.T) {
	_, sess := start(t)
	run(t, sess, `CREATE TABLE ks.d (k text PRIMARY KEY, a text, b text)`)
	run(t, sess, `INSERT INTO ks.d (k, a, b) VALUES (?, ?, ?) USING TIMESTAMP ?`, "k", "a", "b", int64(10))
	run(t, sess, `INSERT INTO ks.d (k, a) VALUES (?, ?) USING TIMESTAMP ?`, "other", "x", int64(10))
	run(t, sess, `DELETE FROM ks.d USING TIMESTAMP ? WHERE k = ?`, int64(10), "k") // a tombstone wins a tie
	count := func(k string) int {
		var n int
		if err := sess.Query(`SELECT COUNT(*) FROM ks.d WHERE k = ?`, k).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if count("k") != 0 || count("other") != 1 {
		t.Fatalf("after the delete: k %d rows, other %d", count("k"), count("other"))
	}
	run(t, sess, `INSERT INTO ks.d (k, a) VALUES (?, ?) USING TIMESTAMP ?`, "k", "late", int64(9)) // shadowed
	if count("k") != 0 {
		t.Fatal("a write below the tombstone is visible")
	}
	run(t, sess, `INSERT INTO ks.d (k, a) VALUES (?, ?) USING TIMESTAMP ?`, "k", "new", int64(11))
	var a string
	var b *string
	if err := sess.Query(`SELECT a, b FROM ks.d WHERE k = ?`, "k").Scan(&a, &b); err != nil || a != "new" || b != nil {
		t.Fatalf("after a newer write: a=%q b=%v, %v", a, b, err)
	}
	// Without USING TIMESTAMP the request's time is the tombstone's.
	run(t, sess, `DELETE FROM ks.d WHERE k = ?`, "other")
	if count("other") != 0 {
		t.Fatal("a DELETE without a timestamp left the row")
	}
	for _, bad := range []string{`DELETE FROM ks.d WHERE a = 'x'`, `DELETE a FROM ks.d WHERE k = 'k'`, `DELETE FROM ks.nope WHERE k = 'k'`} {
		var re gocql.RequestError
		if err := sess.Query(bad).Exec(); err == nil || !errors.As(err, &re) {
			t.Errorf("%s: %v, want a request error", bad, err)
		}
	}
}
