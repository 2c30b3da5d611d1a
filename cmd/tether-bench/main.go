// Command tether-bench runs Tether's comparison program: each comparison
// measures Tether against a baseline in the same run, interleaved, and
// reports the median ratio against its goal.
//
//	tether-bench            full run: writes BENCHMARKS.md and bench-results.json
//	tether-bench -quick     one line per comparison: RATIO <name> <value> goal <op><target> <PASS|FAIL>
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/tether-ipc/tether/internal/bench"
)

func main() {
	if os.Getenv(bench.ChildEnv) != "" {
		bench.ChildMain()
		return
	}
	quick := flag.Bool("quick", false, "short run: print only the RATIO lines (under 90 s)")
	rounds := flag.Int("rounds", 0, "rounds per comparison (default 7, quick 5; at least 5)")
	sideDur := flag.Duration("side", 0, "time of one side of one round (default 1s, quick 150ms)")
	listeners := flag.Int("listeners", 0, "idle listeners per kind for listener_memory (default 10000)")
	noCross := flag.Bool("no-cross", false, "measure in this process only (for profiles: the servers then run in this process)")
	load := flag.String("load", "", "a Markdown section of tether-load -sse's results to include in BENCHMARKS.md (default: load-results.md if present)")
	md := flag.String("md", "BENCHMARKS.md", "markdown report to write (full mode; empty: none)")
	js := flag.String("json", "bench-results.json", "JSON results to write (full mode; empty: none)")
	only := flag.String("only", "", "comma-separated comparisons to run (default all): "+strings.Join(bench.Names(), ","))
	prof := flag.String("profile", "", "folder for a CPU and an allocation profile of each comparison")
	verbose := flag.Bool("v", false, "print every round")
	untraced := flag.Bool("untraced", false, "diagnosis: the Tether sides without the OTLP exporter (not the product as shipped)")
	logLevel := flag.String("log-level", "", "diagnosis: the Tether sides' log level instead of info (not the product as shipped)")
	flag.Parse()

	cfg := &bench.Config{Quick: *quick, Rounds: 7, Side: time.Second, Listeners: 10000, ProfileDir: *prof, NoCross: *noCross,
		Untraced: *untraced, LogLevel: *logLevel}
	if *quick {
		cfg.Rounds, cfg.Side = 5, 150*time.Millisecond
	}
	if *rounds > 0 {
		cfg.Rounds = *rounds
	}
	if *sideDur > 0 {
		cfg.Side = *sideDur
	}
	if *listeners > 0 {
		cfg.Listeners = *listeners
	}
	if *only != "" {
		cfg.Only = map[string]bool{}
		for _, n := range strings.Split(*only, ",") {
			cfg.Only[strings.TrimSpace(n)] = true
		}
	}
	if *verbose {
		cfg.Log = os.Stderr
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()

	start := time.Now()
	machine := bench.ThisMachine()
	results := bench.Run(ctx, cfg, func(r bench.Result) {
		fmt.Println(r.Line())
		if *verbose {
			fmt.Fprintf(os.Stderr, "  %s: %.1fs\n", r.Name, r.Seconds)
		}
		if r.Err != "" {
			fmt.Fprintf(os.Stderr, "%s: %s\n", r.Name, r.Err)
		}
	})
	if *quick {
		return // exactly one line per comparison
	}
	mode := "full"
	if *untraced || *logLevel != "" {
		mode = "DIAGNOSIS, not as shipped:"
		if *untraced {
			mode += " no tracing"
		}
		if *logLevel != "" {
			mode += " log level " + *logLevel
		}
		mode += ";"
	}
	rep := &bench.Report{Machine: machine, Mode: mode, Rounds: cfg.Rounds, SideSec: cfg.Side.Seconds(), Results: results}
	loadFile := *load
	if loadFile == "" {
		loadFile = "load-results.md"
	}
	if b, err := os.ReadFile(loadFile); err == nil {
		rep.Load = string(b)
	} else if *load != "" {
		fmt.Fprintln(os.Stderr, "tether-bench:", err)
		os.Exit(1)
	}
	if *md != "" {
		if err := os.WriteFile(*md, []byte(rep.Markdown()), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "tether-bench:", err)
			os.Exit(1)
		}
	}
	if *js != "" {
		if err := rep.WriteJSON(*js); err != nil {
			fmt.Fprintln(os.Stderr, "tether-bench:", err)
			os.Exit(1)
		}
	}
	fmt.Fprintf(os.Stderr, "tether-bench: %d comparisons in %.1fs; wrote %s and %s\n", len(results), time.Since(start).Seconds(), *md, *js)
}
