package main

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/tether-ipc/tether"
)

// classify is the outcome of keyed call key that ended with err and out;
// other outcomes are recorded in others by their error.
func classify(key, out string, err error, others *sync.Map) outcome {
	switch {
	case err == nil && out == "applied "+key:
		return okCall
	case tether.CodeOf(err) == tether.CodeFailedPrecondition && strings.Contains(err.Error(), "outcome is unknown"):
		return inDoubt
	}
	others.Store(fmt.Sprint(tether.CodeOf(err), ": ", err, out), true)
	return failed
}

// callPause spreads a client's calls over the run, and emitEvery the events.
func callPause(p params) time.Duration {
	return time.Duration(p.clients) * p.every * time.Duration(p.kills+1) / time.Duration(p.calls+1) / 2
}

func emitEvery(p params) time.Duration {
	return time.Duration(p.kills+1) * p.every / time.Duration(max(p.events, 1))
}

// tally is what the executions file says of the calls' outcomes.
type tally struct {
	oks, failed, doubles, okNotOnce, doubtRan, doubtNotRan int
}

// countCalls reads the executions file (one line per run of "apply": its
// key) and tallies the outcomes against it.
func countCalls(path string, outcomes []outcome) (tally, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return tally{}, err
	}
	runs := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if line != "" {
			runs[line]++
		}
	}
	var t tally
	for i, o := range outcomes {
		n := runs[fmt.Sprint("k", i)]
		if n > 1 {
			t.doubles++
		}
		switch o {
		case okCall:
			t.oks++
			if n != 1 {
				t.okNotOnce++
			}
		case inDoubt:
			if n == 0 {
				t.doubtNotRan++
			} else {
				t.doubtRan++
			}
		case failed:
			t.failed++
		}
	}
	return t, nil
}

// print writes the calls and executions lines; retried says how the
// retries went.
func (t tally) print(calls int, retries int64, retried string) {
	fmt.Printf("  calls       %d keyed calls: %d answered OK, %d in doubt, %d failed otherwise; %d retries %s\n", calls, t.oks, t.doubtRan+t.doubtNotRan, t.failed, retries, retried)
	fmt.Printf("  executions  double executions %d; OK calls not run exactly once %d; in-doubt calls that had run %d, had not run %d\n", t.doubles, t.okNotOnce, t.doubtRan, t.doubtNotRan)
}
