package deploy

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction with its continuation lines
// joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN, COPY, …
	args string
}

// stage is a FROM and the instructions after it.
type stage struct {
	name  string // the AS name, or the image
	steps []instruction
}

// parseDockerfile splits a Dockerfile into stages. It knows the syntax the
// repository's Dockerfile uses — comments, backslash continuations, FROM …
// AS name — and nothing of BuildKit's heredocs or parser directives.
func parseDockerfile(t *testing.T, path string) []stage {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		stages []stage
		buf    strings.Builder
	)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if buf.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if strings.HasPrefix(line, "#") {
			continue // a comment inside a continued instruction
		}
		if rest, ok := strings.CutSuffix(line, `\`); ok {
			buf.WriteString(rest + " ")
			continue
		}
		buf.WriteString(line)
		cmd, args, _ := strings.Cut(buf.String(), " ")
		buf.Reset()
		in := instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		if in.cmd == "FROM" {
			f := strings.Fields(in.args)
			name := f[0]
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				name = f[2]
			}
			stages = append(stages, stage{name: name})
			continue
		}
		if len(stages) == 0 {
			t.Fatalf("%s: %s before FROM", path, in.cmd)
		}
		stages[len(stages)-1].steps = append(stages[len(stages)-1].steps, in)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return stages
}

// execForm parses a JSON-array argument (["a", "b"]); shell form is refused
// because the distroless image has no shell to run it.
func execForm(t *testing.T, in instruction) []string {
	t.Helper()
	var argv []string
	if err := json.Unmarshal([]byte(in.args), &argv); err != nil {
		t.Fatalf("%s %s: want the exec form (a JSON array): %v", in.cmd, in.args, err)
	}
	return argv
}

// envPairs parses ENV k=v k2="v 2" … (the key=value form only).
func envPairs(t *testing.T, args string) [][2]string {
	t.Helper()
	var out [][2]string
	for _, f := range strings.Fields(args) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			t.Fatalf("ENV %s: want key=value pairs", args)
		}
		out = append(out, [2]string{k, strings.Trim(v, `"`)})
	}
	return out
}

// flagsAndRest splits leading --name=value flags from an instruction's arguments.
func flagsAndRest(args string) (map[string]string, []string) {
	flags := map[string]string{}
	var rest []string
	for _, f := range strings.Fields(args) {
		if k, v, ok := strings.Cut(strings.TrimPrefix(f, "--"), "="); ok && strings.HasPrefix(f, "--") && len(rest) == 0 {
			flags[k] = v
			continue
		}
		rest = append(rest, f)
	}
	return flags, rest
}

func (s stage) String() string { return fmt.Sprintf("stage %s", s.name) }
