// Tests of the Dockerfile linter: BuildKit's rules fire on a bad Dockerfile, the build-context checks
// find ignored and missing COPY sources, and a clean Dockerfile passes.
package main

import (
	"context"
	"reflect"
	"testing"
)

func rulesByLine(findings []Finding) map[int][]string {
	got := map[int][]string{}
	for _, f := range findings {
		got[f.Line] = append(got[f.Line], f.Rule)
	}
	return got
}

func TestBadDockerfileFailsEveryRuleItBreaks(t *testing.T) {
	findings, err := Lint(context.Background(), "testdata/bad.Dockerfile", "testdata/context")
	if err != nil {
		t.Fatal(err)
	}
	want := map[int][]string{
		1: {"StageNameCasing", "FromAsCasing"},
		2: {"SecretsUsedInArgOrEnv"},
		3: {"LegacyKeyValueFormat"},
		4: {"WorkdirRelativePath"},
		5: {"CopyIgnoredFile"},
		7: {"CopySourceMissing"},
		8: {"JSONArgsRecommended"},
	}
	if got := rulesByLine(findings); !reflect.DeepEqual(got, want) {
		t.Fatalf("findings by line:\n got %v\nwant %v", got, want)
	}
}

func TestCleanDockerfilePasses(t *testing.T) {
	findings, err := Lint(context.Background(), "testdata/good.Dockerfile", "testdata/context")
	if err != nil {
		t.Fatal(err)
	}
	if len(findings) != 0 {
		t.Fatalf("want no findings, got %+v", findings)
	}
}

func TestUnreadableDockerfileIsAnError(t *testing.T) {
	if _, err := Lint(context.Background(), "testdata/absent.Dockerfile", "testdata/context"); err == nil {
		t.Fatal("want an error for a missing Dockerfile")
	}
}
