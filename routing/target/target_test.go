package target

import (
	"strings"
	"testing"
	"time"
)

func TestParseRejects(t *testing.T) {
	cases := []struct {
		template string
		want     []string // substrings the error must contain
	}{
		{"", []string{"empty"}},
		{"/abs/{contract}", []string{"absolute path"}},
		{"{contract}/", []string{`segment 2 ""`, "empty segment"}},
		{"a//b", []string{`segment 2 ""`, "empty segment"}},
		{"a/./b", []string{`segment 2 "."`, `"." segments`}},
		{"{contract}/..", []string{`segment 2 ".."`, `".." segments`}},
		{"../x", []string{`segment 1 ".."`}},
		{".hidden/{contract}", []string{`segment 1 ".hidden"`, "start with '.'"}},
		{"{contract}/{day}", []string{`segment 2 "{day}"`, "unknown placeholder {day}", "offset 11", "known: {contract}"}},
		{"{Contract}", []string{"unknown placeholder {Contract}"}},
		{"{yyyy-MM}", []string{"unknown placeholder {yyyy-MM}"}},
		{"dt={date", []string{`segment 1 "dt={date"`, "unclosed '{' at offset 3"}},
		{"dt={da{te}", []string{"unclosed '{' at offset 3"}},
		{"x/dt=date}", []string{"unmatched '}' at offset 9"}},
		{"x/{}", []string{"empty placeholder {} at offset 2"}},
		{"a b/{contract}", []string{"character ' ' at offset 1"}},
		{"c:{contract}", []string{"character ':' at offset 1"}},
		{`a\b`, []string{`character '\\' at offset 1`}},
	}
	for _, c := range cases {
		_, err := Parse(c.template)
		if err == nil {
			t.Errorf("Parse(%q) = nil error, want one containing %q", c.template, c.want)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Parse(%q) error %q does not contain %q", c.template, err, w)
			}
		}
	}
}

func TestRender(t *testing.T) {
	at := time.Date(2024, 3, 1, 9, 30, 0, 0, time.UTC)
	// 23:30 on Feb 29 in UTC-5 is 04:30 on Mar 1 in UTC: rendering must use UTC.
	ny := time.Date(2024, 2, 29, 23, 30, 0, 0, time.FixedZone("EST", -5*3600))
	cases := []struct {
		template, contract, route string
		at                        time.Time
		want                      string
	}{
		{"{contract}/dt={date}/hr={hour}", "checkout.order_placed", "lake", at, "checkout.order_placed/dt=2024-03-01/hr=09"},
		{"{contract}/dt={date}/hr={hour}", "checkout.order_placed", "lake", ny, "checkout.order_placed/dt=2024-03-01/hr=04"},
		{"{route}/{yyyy}/{MM}/{dd}/{hour}", "c", "lake-eu", at, "lake-eu/2024/03/01/09"},
		{"{yyyy.MM}/{contract}", "c", "r", at, "2024.03/c"},
		{"static", "c", "r", at, "static"},
		{"p_{contract}-{route}", "a", "b", at, "p_a-b"},
		// unsafe names
		{"{contract}/x", "../../etc/passwd", "r", at, "_._.._etc_passwd/x"},
		{"{contract}", "..", "r", at, "_."},
		{"{contract}", ".", "r", at, "_"},
		{"{contract}", "", "r", at, "_"},
		{"{contract}{contract}", ".", "r", at, "__"},
		{"{contract}", ".hidden", "r", at, "_hidden"},
		{"{contract}", "a b/c\x00é", "r", at, "a_b_c___"},
		{"x{contract}", ".a", "r", at, "x_a"},
		{"{route}", "c", "my route", at, "my_route"},
		{"{date}", "c", "r", time.Date(999, 1, 2, 0, 0, 0, 0, time.UTC), "0999-01-02"},
	}
	for _, c := range cases {
		tpl, err := Parse(c.template)
		if err != nil {
			t.Fatalf("Parse(%q): %v", c.template, err)
		}
		if got := tpl.Render(c.contract, c.route, c.at); got != c.want {
			t.Errorf("Parse(%q).Render(%q, %q, %v) = %q, want %q", c.template, c.contract, c.route, c.at, got, c.want)
		}
	}
}

func TestUsesAndString(t *testing.T) {
	tpl := MustParse("{contract}/dt={date}")
	if !tpl.Uses("contract") || !tpl.Uses("{date}") || tpl.Uses("hour") || tpl.Uses("nope") {
		t.Errorf("Uses is wrong for %q", tpl)
	}
	if tpl.String() != "{contract}/dt={date}" {
		t.Errorf("String() = %q", tpl.String())
	}
	if SafeName("a/b") != "a_b" {
		t.Errorf("SafeName(a/b) = %q", SafeName("a/b"))
	}
}

func TestMustParsePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("MustParse of a bad template did not panic")
		}
	}()
	MustParse("{nope}")
}

func BenchmarkRender(b *testing.B) {
	tpl := MustParse("{contract}/dt={date}/hr={hour}")
	at := time.Now()
	for b.Loop() {
		_ = tpl.Render("checkout.order_placed", "lake", at)
	}
}

func TestRenderRange(t *testing.T) {
	at := time.Date(2026, 11, 22, 22, 30, 0, 0, time.UTC)
	cases := []struct {
		tmpl         string
		since, until time.Time
		want         []string
	}{
		{"wb_{contract}", at, at.Add(48 * time.Hour), []string{"wb_c"}},
		{"{contract}/dt={date}", at, at.Add(3 * time.Hour), []string{"c/dt=2026-11-22", "c/dt=2026-11-23"}},
		{"{contract}/dt={date}/hr={hour}", at, at.Add(time.Hour), []string{"c/dt=2026-11-22/hr=22", "c/dt=2026-11-22/hr=23"}},
		{"{contract}/hr={hour}", at, at, []string{"c/hr=22"}},
	}
	for _, c := range cases {
		got := MustParse(c.tmpl).RenderRange("c", "r", c.since, c.until)
		if strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("%s: %v, want %v", c.tmpl, got, c.want)
		}
	}
}
