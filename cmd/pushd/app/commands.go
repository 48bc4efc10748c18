package app

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
)

// A command is one verb of the CLI, in a file named after it
// (clusters_add.go is `pushd clusters add`): a struct of its flags, which
// binds them (flags) and does the verb, as a runner or a storeCommand.
type command interface {
	// flags binds the command's flags on fs and returns the environment
	// variable of each flag that has one (for applyEnv).
	flags(fs *flag.FlagSet) map[string]string
}

// A runner does its verb itself, its flags parsed and the environment
// applied.
type runner interface {
	run(ctx context.Context, c *call) error
}

// A storeCommand works on pushd's state: exec checks its arguments (and,
// if it is a validator, its flags) before anything is opened, then opens
// the database and credentials its settings name (admin.open), does the
// verb and closes them.
type storeCommand interface {
	// state is the command's settings of the state (admin, embedded).
	state() *admin
	do(ctx context.Context, c *call, env *adminEnv) error
}

// A validator checks a storeCommand's flags before its state is opened, so
// a usage mistake creates no database.
type validator interface {
	validate(c *call) error
}

// entry is one row of the command table: a verb, or a group of verbs
// (`pushd clusters …`).
type entry struct {
	name string
	// args are the verb's arguments in its synopsis: "ID", "FILE".
	args string
	// one, when set, is what the verb's one argument names ("cluster id"):
	// exec refuses any other number of arguments and passes it as call.arg.
	one string
	// help says in one line what the verb does.
	help  string
	new   func() command
	group []entry
}

// commands drives the dispatch and the usage text. A verb of a group
// lists it under the group, as `pushd jobs submit`.
var commands = []entry{
	{name: "serve", help: "run the daemon (the default)", new: func() command { return new(serveCmd) }},
	{name: "clusters", group: []entry{
		{name: "add", args: "ID", one: "cluster id", help: "create a cluster record, or change what the flags name", new: func() command { return new(clustersAdd) }},
		{name: "list", help: "every cluster with its last observed state and, if not ready, why", new: func() command { return new(clustersList) }},
		{name: "show", args: "ID", one: "cluster id", help: "a record and what pushd observes, as JSON", new: func() command { return new(clustersShow) }},
		{name: "check", args: "ID", one: "cluster id", help: "probe now; non-zero exit unless ready with every right", new: func() command { return new(clustersCheck) }},
		{name: "bootstrap", args: "--admin-kubeconfig FILE --cluster ID", help: "mint a least-privilege ServiceAccount credential", new: func() command { return new(clustersBootstrap) }},
	}},
	{name: "jobs", group: []entry{
		{name: "submit", args: "FILE", one: "job file", help: "queue a job (YAML or JSON, as POST /api/v1/jobs takes it; - reads standard input)", new: func() command { return new(jobsSubmit) }},
		{name: "get", args: "ID", one: "job id", help: "a job with its per-object results, as JSON", new: func() command { return new(jobsGet) }},
		{name: "list", help: "recent jobs (--cluster, --status, --request-id)", new: func() command { return new(jobsList) }},
	}},
	{name: "applications", group: []entry{
		{name: "history", args: "--cluster ID --namespace NS APP", one: "application", help: "the application's jobs, newest first, with what a rollback to each needs", new: func() command { return new(applicationsHistory) }},
	}},
	{name: "manifests", group: []entry{
		{name: "rekey", help: "seal stored manifests with the first --manifest-keys key (key rotation)", new: func() command { return new(manifestsRekey) }},
	}},
	{name: "backup", args: "FILE", one: "file name", help: "online copy of the SQLite database to FILE, which must not exist (PostgreSQL: pg_dump)", new: func() command { return new(backupCmd) }},
	{name: "healthcheck", help: "exit 0 when the local daemon answers /healthz (the image's HEALTHCHECK)", new: func() command { return new(healthcheckCmd) }},
	{name: "version", help: "print the version", new: func() command { return new(versionCmd) }},
	{name: "help", args: "[CMD]", help: "this text, or a command's flags", new: func() command { return new(helpCmd) }},
}

// defaultCommand runs when pushd is given only flags, or nothing.
const defaultCommand = "serve"

// call is one run of a command: its arguments once its flags are parsed,
// the environment, and where it writes.
type call struct {
	fs *flag.FlagSet
	// path names the command: "clusters add".
	path, synopsis string
	args           []string
	// arg is the one argument of a verb whose entry names it (entry.one).
	arg    string
	getenv func(string) string
	io     streams
}

// usageError is err with the command's synopsis as its hint.
func (c *call) usageError(err error) error { return hint(err, "usage: "+c.synopsis) }

// one is the command's one argument, what it names.
func (c *call) one(what string) (string, error) {
	if len(c.args) != 1 {
		return "", c.usageError(fmt.Errorf("%s: one %s is required", c.path, what))
	}
	return c.args[0], nil
}

// dispatch runs the command args name among es, the verbs of the group at
// path ("" for pushd itself, "clusters").
func dispatch(ctx context.Context, path string, es []entry, args []string, getenv func(string) string, io streams) error {
	if len(args) == 0 || isHelp(args[0]) {
		usage(io.out, path, es)
		if len(args) == 0 {
			return hint(fmt.Errorf("%s: a command is required", path), "run 'pushd "+path+" --help' for the commands")
		}
		return flag.ErrHelp
	}
	name, args := args[0], args[1:]
	sub := strings.TrimSpace(path + " " + name)
	for _, e := range es {
		switch {
		case e.name != name:
		case e.group != nil:
			return dispatch(ctx, sub, e.group, args, getenv, io)
		default:
			return e.exec(ctx, sub, args, getenv, io)
		}
	}
	if path == "" {
		return hint(fmt.Errorf("unknown command %q", sub), "run 'pushd help' for the commands")
	}
	return hint(fmt.Errorf("unknown command %q", sub), "run 'pushd "+path+" --help' for the commands")
}

// exec runs the verb e, at path: it binds its flags, parses them and
// applies the environment to those not given.
func (e entry) exec(ctx context.Context, path string, args []string, getenv func(string) string, io streams) error {
	cmd := e.new()
	fs := flag.NewFlagSet("pushd "+path, flag.ContinueOnError)
	envs := cmd.flags(fs)
	c := &call{fs: fs, path: path, synopsis: e.synopsis(path), getenv: getenv, io: io}
	if hasFlags(fs) {
		c.synopsis += " [flags]"
	}
	var err error
	if c.args, err = parseFlags(fs, c.synopsis, e.help, args, io); err != nil {
		return err
	}
	if err := applyEnv(fs, envs, getenv); err != nil {
		return err
	}
	if e.one != "" {
		if c.arg, err = c.one(e.one); err != nil {
			return err
		}
	}
	switch cmd := cmd.(type) {
	case runner:
		return cmd.run(ctx, c)
	case storeCommand:
		if v, ok := cmd.(validator); ok {
			if err := v.validate(c); err != nil {
				return err
			}
		}
		env, err := cmd.state().open(ctx, c)
		if err != nil {
			return err
		}
		defer env.close()
		return cmd.do(ctx, c, env)
	}
	panic(fmt.Sprintf("pushd %s: a command must be a runner or a storeCommand", path))
}

// synopsis is how the verb at path is called, without its flags; the
// default command's name is optional.
func (e entry) synopsis(path string) string {
	if path == defaultCommand {
		path = "[" + path + "]"
	}
	return strings.TrimSpace("pushd " + path + " " + e.args)
}

// usage lists the verbs of the group at path, one a line with its help.
func usage(w io.Writer, path string, es []entry) {
	if path == "" {
		fmt.Fprint(w, "pushd - the Push-mode link between Odoo and vWorkspace clusters\n\n")
	}
	fmt.Fprintln(w, "Usage:")
	list(w, path, es)
	if path == "" {
		fmt.Fprintf(w, "\nEvery command takes -h/--help: 'pushd serve --help', 'pushd clusters add --help'.\n")
		return
	}
	fmt.Fprintf(w, "\nRun 'pushd %s CMD --help' for a command's flags.\n", path)
}

// list writes a line per verb of es and of its groups: the synopsis, then
// the help in a column, or on the next line below a long synopsis.
func list(w io.Writer, path string, es []entry) {
	const column = 24
	for _, e := range es {
		sub := strings.TrimSpace(path + " " + e.name)
		if e.group != nil {
			list(w, sub, e.group)
			continue
		}
		if s := e.synopsis(sub); len(s) < column {
			fmt.Fprintf(w, "  %-*s%s\n", column, s, e.help)
		} else {
			fmt.Fprintf(w, "  %s\n  %*s%s\n", s, column, "", e.help)
		}
	}
}

// isHelp is whether arg asks for help.
func isHelp(arg string) bool { return arg == "-h" || arg == "--help" || arg == "-help" }
