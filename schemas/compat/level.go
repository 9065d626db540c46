package compat

import "strings"

// Level is a compatibility level, named as in the Confluent Schema Registry.
type Level string

// The seven compatibility levels.
const (
	None               Level = "NONE"
	Backward           Level = "BACKWARD"
	BackwardTransitive Level = "BACKWARD_TRANSITIVE"
	Forward            Level = "FORWARD"
	ForwardTransitive  Level = "FORWARD_TRANSITIVE"
	Full               Level = "FULL"
	FullTransitive     Level = "FULL_TRANSITIVE"
)

// allLevels is the canonical order used by Levels and by error messages.
var allLevels = [...]Level{None, Backward, BackwardTransitive, Forward, ForwardTransitive, Full, FullTransitive}

// Levels lists all seven, for error messages.
func Levels() []Level {
	// A fresh slice each call, so a caller that sorts or edits it cannot
	// change what the next caller sees.
	out := make([]Level, len(allLevels))
	copy(out, allLevels[:])
	return out
}

// ParseLevel accepts any case ("backward", "Full_Transitive"); ok=false for anything else.
// Surrounding spaces and other spellings ("full-transitive") are rejected rather
// than guessed at: a level decides what may be registered, so it must be exact.
func ParseLevel(s string) (Level, bool) {
	for _, l := range allLevels {
		if strings.EqualFold(s, string(l)) {
			return l, true
		}
	}
	return "", false
}

// Transitive reports whether the level checks every earlier version rather
// than only the latest.
func (l Level) Transitive() bool {
	switch l {
	case BackwardTransitive, ForwardTransitive, FullTransitive:
		return true
	case None, Backward, Forward, Full:
		return false
	}
	return unknownLevel.Transitive()
}

// directions reports which directions the level checks: backward means the
// new schema must read old data, forward means old schemas must read new data.
func (l Level) directions() (backward, forward bool) {
	switch l {
	case None:
		return false, false
	case Backward, BackwardTransitive:
		return true, false
	case Forward, ForwardTransitive:
		return false, true
	case Full, FullTransitive:
		return true, true
	}
	return unknownLevel.directions()
}

// unknownLevel is what Check applies for a Level value outside the seven.
// It is the strictest level so that a typo in configuration can never let an
// incompatible schema through; callers should validate input with ParseLevel.
const unknownLevel = FullTransitive
