package compat

import (
	"slices"
	"testing"
)

func TestParseLevel(t *testing.T) {
	tests := []struct {
		in     string
		want   Level
		wantOK bool
	}{
		{"NONE", None, true},
		{"none", None, true},
		{"backward", Backward, true},
		{"Backward_Transitive", BackwardTransitive, true},
		{"FORWARD", Forward, true},
		{"forward_TRANSITIVE", ForwardTransitive, true},
		{"fUlL", Full, true},
		{"Full_Transitive", FullTransitive, true},
		{"", "", false},
		{"full-transitive", "", false},
		{"BACKWARDS", "", false},
		{" backward", "", false},
		{"transitive", "", false},
	}
	for _, tt := range tests {
		got, ok := ParseLevel(tt.in)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("ParseLevel(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestLevels(t *testing.T) {
	levels := Levels()
	want := []Level{None, Backward, BackwardTransitive, Forward, ForwardTransitive, Full, FullTransitive}
	if !slices.Equal(levels, want) {
		t.Fatalf("Levels() = %v, want %v", levels, want)
	}
	for _, l := range levels {
		if parsed, ok := ParseLevel(string(l)); !ok || parsed != l {
			t.Errorf("ParseLevel(%q) = %q, %v", l, parsed, ok)
		}
	}
	levels[0] = "EDITED"
	if Levels()[0] != None {
		t.Fatal("editing the result of Levels changed the next result")
	}
}

func TestTransitive(t *testing.T) {
	for _, l := range Levels() {
		want := l == BackwardTransitive || l == ForwardTransitive || l == FullTransitive
		if l.Transitive() != want {
			t.Errorf("%s.Transitive() = %v", l, !want)
		}
	}
}

// problem is the part of a Problem that the level tests pin down.
type problem struct {
	Version   int
	Direction string
	Type      string
	Path      string
}

func TestCheckLevels(t *testing.T) {
	// Backward history: v3 {a}, v7 {a, b default}; the candidate drops b's
	// default. It reads v7 data (which has b) but not v3 data (which lacks it).
	backwardHistory := []string{
		rec("R", fld("a", tInt)),
		rec("R", fld("a", tInt), fldDef("b", tString, `""`)),
	}
	backwardCandidate := rec("R", fld("a", tInt), fld("b", tString))

	// Forward history: v3 {a, b}, v7 {a, b default}; the candidate drops b.
	// v7 reads its data (using the default), v3 cannot (b has no default there).
	forwardHistory := []string{
		rec("R", fld("a", tInt), fld("b", tString)),
		rec("R", fld("a", tInt), fldDef("b", tString, `""`)),
	}
	forwardCandidate := rec("R", fld("a", tInt))

	// Both directions fail against the one earlier version: the candidate
	// swaps b for c, neither with a default.
	swapHistory := []string{rec("R", fld("a", tInt), fld("b", tString))}
	swapCandidate := rec("R", fld("a", tInt), fld("c", tString))

	bwdV3 := problem{3, "backward", ReaderFieldMissingDefaultValue, "b"}
	fwdV3 := problem{3, "forward", ReaderFieldMissingDefaultValue, "b"}
	swapBwd := problem{3, "backward", ReaderFieldMissingDefaultValue, "c"}
	swapFwd := problem{3, "forward", ReaderFieldMissingDefaultValue, "b"}

	tests := []struct {
		name      string
		level     Level
		history   []string
		candidate string
		want      []problem
	}{
		{"none ignores a backward break", None, backwardHistory, backwardCandidate, nil},
		{"none ignores a forward break", None, forwardHistory, forwardCandidate, nil},
		{"none ignores a break both ways", None, swapHistory, swapCandidate, nil},

		{"backward checks only the latest", Backward, backwardHistory, backwardCandidate, nil},
		{"backward transitive checks all", BackwardTransitive, backwardHistory, backwardCandidate, []problem{bwdV3}},
		{"backward ignores a forward break", Backward, forwardHistory, forwardCandidate, nil},
		{"backward transitive ignores forward breaks", BackwardTransitive, forwardHistory, forwardCandidate, nil},
		{"backward reports the backward side", Backward, swapHistory, swapCandidate, []problem{swapBwd}},

		{"forward checks only the latest", Forward, forwardHistory, forwardCandidate, nil},
		{"forward transitive checks all", ForwardTransitive, forwardHistory, forwardCandidate, []problem{fwdV3}},
		{"forward ignores a backward break", Forward, backwardHistory, backwardCandidate, nil},
		{"forward transitive ignores backward breaks", ForwardTransitive, backwardHistory, backwardCandidate, nil},
		{"forward reports the forward side", Forward, swapHistory, swapCandidate, []problem{swapFwd}},

		{"full checks only the latest (backward history)", Full, backwardHistory, backwardCandidate, nil},
		{"full checks only the latest (forward history)", Full, forwardHistory, forwardCandidate, nil},
		{"full transitive catches the backward break", FullTransitive, backwardHistory, backwardCandidate, []problem{bwdV3}},
		{"full transitive catches the forward break", FullTransitive, forwardHistory, forwardCandidate, []problem{fwdV3}},
		{"full reports both directions", Full, swapHistory, swapCandidate, []problem{swapBwd, swapFwd}},
		{"full transitive reports both directions", FullTransitive, swapHistory, swapCandidate, []problem{swapBwd, swapFwd}},

		{"unknown level fails closed like full transitive", Level("SIDEWAYS"), forwardHistory, forwardCandidate, []problem{fwdV3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Check(tt.level, parse(t, tt.candidate), history(t, tt.history, 3, 7))
			assertProblems(t, got, tt.want)
		})
	}
}

// TestCheckTransitiveOrderAndVersions: transitive levels go oldest first,
// backward before forward within a version, and carry each version number.
func TestCheckTransitiveOrderAndVersions(t *testing.T) {
	prev := history(t, []string{
		rec("R", fld("a", tLong)),                   // v2: a long -> candidate int cannot read it; v2 reads int fine
		rec("R", fld("a", tInt), fld("b", tString)), // v5: candidate lacks b -> v5 cannot read candidate data
		rec("R", fld("a", tInt)),                    // v9: identical
	}, 2, 5, 9)
	candidate := parse(t, rec("R", fld("a", tInt)))

	assertProblems(t, Check(FullTransitive, candidate, prev), []problem{
		{2, "backward", TypeMismatch, "a"},
		{5, "forward", ReaderFieldMissingDefaultValue, "b"},
	})
	assertProblems(t, Check(Full, candidate, prev), nil)
	assertProblems(t, Check(BackwardTransitive, candidate, prev), []problem{{2, "backward", TypeMismatch, "a"}})
	assertProblems(t, Check(ForwardTransitive, candidate, prev), []problem{{5, "forward", ReaderFieldMissingDefaultValue, "b"}})
}

func TestCheckWithoutHistory(t *testing.T) {
	candidate := parse(t, rec("R", fld("a", tInt)))
	for _, l := range Levels() {
		if got := Check(l, candidate, nil); len(got) != 0 {
			t.Errorf("%s with no history: %+v", l, got)
		}
	}
}

// TestCheckNoneNeverReports: NONE passes even a schema of another kind.
func TestCheckNoneNeverReports(t *testing.T) {
	prev := history(t, []string{rec("R", fld("a", tInt)), tString}, 1, 2)
	if got := Check(None, parse(t, arr(tBool)), prev); got != nil {
		t.Fatalf("NONE reported %+v", got)
	}
}

// history parses schemas into Previous values with the given versions, oldest first.
func history(t *testing.T, schemas []string, versions ...int) []Previous {
	t.Helper()
	prev := make([]Previous, len(schemas))
	for i, s := range schemas {
		prev[i] = Previous{Version: versions[i], Schema: parse(t, s)}
	}
	return prev
}

func assertProblems(t *testing.T, got []Problem, want []problem) {
	t.Helper()
	gotProblems := make([]problem, len(got))
	for i, p := range got {
		gotProblems[i] = problem{p.Version, p.Direction, p.Type, p.Path}
		if p.Message == "" {
			t.Errorf("problem %+v has no message", p)
		}
	}
	if !slices.Equal(gotProblems, want) {
		t.Fatalf("problems:\n got  %+v\n want %+v", gotProblems, want)
	}
}
