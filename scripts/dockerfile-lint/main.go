// Command dockerfile-lint checks a Dockerfile the way `docker build --check` does, without a Docker engine:
// BuildKit's own Dockerfile frontend parses it and runs its lint rules (all of them, experimental ones
// included), and the COPY/ADD sources are checked against the build context and its .dockerignore (the
// CopyIgnoredFile rule, which BuildKit can only run with a build context). Any finding fails.
//
// Usage: dockerfile-lint [-context DIR] [-json] DOCKERFILE
//
// Exit codes: 0 clean, 1 findings, 2 usage or unreadable input.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/frontend/dockerfile/dockerfile2llb"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerui"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
	digest "github.com/opencontainers/go-digest"
)

// Finding is one problem, located in the Dockerfile.
type Finding struct {
	Rule    string `json:"rule"`
	Message string `json:"message"`
	Line    int    `json:"line"`
	URL     string `json:"url,omitempty"`
}

func main() {
	contextDir := flag.String("context", "", "build context (default: the Dockerfile's directory)")
	asJSON := flag.Bool("json", false, "print findings as JSON")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: dockerfile-lint [-context DIR] [-json] DOCKERFILE")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	path := flag.Arg(0)
	if *contextDir == "" {
		*contextDir = filepath.Dir(path)
	}
	findings, err := Lint(context.Background(), path, *contextDir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "dockerfile-lint: %v\n", err)
		os.Exit(2)
	}
	if *asJSON {
		_ = json.NewEncoder(os.Stdout).Encode(findings)
	} else {
		Report(os.Stdout, path, findings)
	}
	if len(findings) > 0 {
		os.Exit(1)
	}
}

// Report prints findings as `FILE:LINE RULE: message`, then a summary line.
func Report(w io.Writer, path string, findings []Finding) {
	for _, f := range findings {
		fmt.Fprintf(w, "%s:%d %s: %s\n", path, f.Line, f.Rule, f.Message)
		if f.URL != "" {
			fmt.Fprintf(w, "    see %s\n", f.URL)
		}
	}
	if len(findings) == 0 {
		fmt.Fprintf(w, "%s: no problems (BuildKit Dockerfile checks and .dockerignore)\n", path)
	} else {
		fmt.Fprintf(w, "%s: %d problem(s)\n", path, len(findings))
	}
}

// Lint runs BuildKit's checks and the build-context checks on the Dockerfile at path.
func Lint(ctx context.Context, path, contextDir string) ([]Finding, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var findings []Finding
	results, err := dockerfile2llb.DockerfileLint(ctx, data, dockerfile2llb.ConvertOpt{
		Config: dockerui.Config{
			LinterConfig: &linter.Config{ExperimentalAll: true},
		},
		SourceMap:    sourceMap(ctx, path, data),
		MetaResolver: offlineResolver{},
	})
	if err != nil {
		return nil, err
	}
	for _, w := range results.Warnings {
		line := 0
		if w.Location != nil && len(w.Location.Ranges) > 0 {
			line = int(w.Location.Ranges[0].Start.Line)
		}
		findings = append(findings, Finding{Rule: w.RuleName, Message: w.Detail, Line: line, URL: w.URL})
	}
	if results.Error != nil {
		line := 0
		if len(results.Error.Location.Ranges) > 0 {
			line = int(results.Error.Location.Ranges[0].Start.Line)
		}
		findings = append(findings, Finding{Rule: "BuildError", Message: results.Error.Message, Line: line})
	}
	contextFindings, err := checkContext(data, contextDir)
	if err != nil {
		return nil, err
	}
	findings = append(findings, contextFindings...)
	sort.SliceStable(findings, func(i, j int) bool { return findings[i].Line < findings[j].Line })
	return findings, nil
}

// sourceMap is the Dockerfile as BuildKit's lint results refer to it: a local source, as a build has.
func sourceMap(ctx context.Context, path string, data []byte) *llb.SourceMap {
	source := llb.Local("dockerfile")
	sm := llb.NewSourceMap(&source, filepath.Base(path), "Dockerfile", data)
	if definition, err := source.Marshal(ctx); err == nil {
		sm.Definition = definition
	}
	return sm
}

// checkContext: every COPY/ADD source taken from the build context must exist there and must not be
// excluded by .dockerignore (a build would fail on it, or silently copy less than it says).
func checkContext(data []byte, contextDir string) ([]Finding, error) {
	var matcher *patternmatcher.PatternMatcher
	if f, err := os.Open(filepath.Join(contextDir, ".dockerignore")); err == nil {
		patterns, err := ignorefile.ReadAll(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf(".dockerignore: %w", err)
		}
		if matcher, err = patternmatcher.New(patterns); err != nil {
			return nil, fmt.Errorf(".dockerignore: %w", err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	parsed, err := parser.Parse(strings.NewReader(string(data)))
	if err != nil {
		return nil, err
	}
	stages, _, err := instructions.Parse(parsed.AST, nil)
	if err != nil {
		return nil, err
	}
	var findings []Finding
	for _, stage := range stages {
		for _, command := range stage.Commands {
			var sources []string
			var line int
			switch c := command.(type) {
			case *instructions.CopyCommand:
				if c.From != "" {
					continue
				}
				sources, line = c.SourcePaths, c.Location()[0].Start.Line
			case *instructions.AddCommand:
				sources, line = c.SourcePaths, c.Location()[0].Start.Line
			default:
				continue
			}
			for _, source := range sources {
				if strings.Contains(source, "://") || strings.ContainsAny(source, "*?[$") {
					continue // remote sources, globs and variables are BuildKit's to resolve
				}
				clean := filepath.Clean(strings.TrimPrefix(source, "/"))
				info, err := os.Stat(filepath.Join(contextDir, clean))
				if err != nil {
					findings = append(findings, Finding{Rule: "CopySourceMissing", Line: line,
						Message: fmt.Sprintf("%q is not in the build context %s", source, contextDir)})
					continue
				}
				if matcher == nil {
					continue
				}
				ignored, err := isIgnored(matcher, contextDir, clean, info.IsDir())
				if err != nil {
					return nil, err
				}
				if ignored != "" {
					findings = append(findings, Finding{Rule: "CopyIgnoredFile", Line: line,
						Message: fmt.Sprintf("%q is excluded by .dockerignore (%s), so the build would not get it", source, ignored)})
				}
			}
		}
	}
	return findings, nil
}

// isIgnored returns the first path under `rel` (itself, or for a directory any file in it) that the
// .dockerignore patterns exclude, or "".
func isIgnored(matcher *patternmatcher.PatternMatcher, contextDir, rel string, dir bool) (string, error) {
	if rel == "." {
		return "", nil
	}
	if excluded, err := matcher.MatchesOrParentMatches(filepath.ToSlash(rel)); err != nil || excluded {
		return rel, err
	}
	if !dir {
		return "", nil
	}
	found := ""
	err := filepath.WalkDir(filepath.Join(contextDir, rel), func(p string, d os.DirEntry, err error) error {
		if err != nil || found != "" || d.IsDir() {
			return err
		}
		sub, err := filepath.Rel(contextDir, p)
		if err != nil {
			return err
		}
		excluded, err := matcher.MatchesOrParentMatches(filepath.ToSlash(sub))
		if excluded {
			found = sub
		}
		return err
	})
	return found, err
}

// offlineResolver answers BuildKit's base-image lookups without a registry: every image is an empty
// linux image. Rules that need the real image config (InvalidBaseImagePlatform, variables the base image
// defines) therefore see nothing to complain about; everything else runs as in `docker build --check`.
type offlineResolver struct{}

func (offlineResolver) ResolveImageConfig(_ context.Context, ref string, opt sourceresolver.Opt) (string, digest.Digest, []byte, error) {
	platform := "amd64"
	if opt.ImageOpt != nil && opt.ImageOpt.Platform != nil {
		platform = opt.ImageOpt.Platform.Architecture
	}
	config := []byte(`{"architecture":"` + platform + `","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},"rootfs":{"type":"layers","diff_ids":[]}}`)
	return ref, digest.FromBytes(config), config, nil
}
