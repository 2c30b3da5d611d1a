package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"syscall"

	"github.com/tether-ipc/tether/config"
	"github.com/tether-ipc/tether/gateway"
	"github.com/tether-ipc/tether/internal/netaddr"
	"github.com/tether-ipc/tether/server"
)

// Run checks the capabilities against the registered commands, listens on
// the gRPC address, the trusted endpoints and the gateway's address, serves
// until ctx ends, then shuts down gracefully: the gateway first (its
// streams end), then the core (listen streams end with unavailable, so
// clients reconnect and resume; in-flight commands finish within the
// shutdown timeout). It returns nil after a shutdown that ctx asked for.
func (a *App) Run(ctx context.Context) (err error) {
	defer a.cleanup()
	names := make([]string, 0)
	for _, c := range a.core.Commands() {
		names = append(names, c.GetName())
	}
	if err := checkStrictArgs(a.cfg.Limits.StrictArgs, names); err != nil {
		a.core.Stop()
		return err
	}
	if a.caps != nil {
		if err := a.caps.Validate(names); err != nil {
			a.core.Stop()
			field := "capabilities"
			if a.cfg.Capabilities == "" {
				field = "app.security.capabilities"
			}
			return &config.FieldError{Field: field, Err: err}
		}
	}
	var r Ready
	var lis []net.Listener
	closeAll := func() {
		for _, l := range lis {
			l.Close()
		}
	}
	// The runtime folder holds the default socket and the secret made for
	// this launch.
	writeSecret := a.secret != "" && a.cfg.Gateway.TokenFile == ""
	var dir string
	if a.cfg.GRPC == "" || writeSecret {
		if dir, err = runtimeDir(a.cfg); err != nil {
			a.core.Stop()
			return &config.FieldError{Field: "grpc", Err: err}
		}
	}
	// A Unix socket's path has at most 107 bytes (Linux; 103 elsewhere).
	if _, path, _ := netaddr.Parse(a.grpcAddr); a.cfg.GRPC == "" && len(path) > 103 {
		a.core.Stop()
		return &config.FieldError{Field: "grpc", Err: fmt.Errorf("the default socket %s is longer than a socket path may be: set grpc, a shorter identifier, or a shorter $XDG_RUNTIME_DIR", path)}
	}
	l, err := server.Listen(a.grpcAddr)
	if err != nil {
		a.core.Stop()
		return &config.FieldError{Field: "grpc", Err: hint(err)}
	}
	// Written once this instance has its socket: a second instance of the
	// app fails above rather than replace the first one's secret.
	if writeSecret {
		r.TokenFile = filepath.Join(dir, "token")
		remove, err := writeToken(r.TokenFile, a.secret)
		if err != nil {
			l.Close()
			a.core.Stop()
			return &config.FieldError{Field: "gateway.token_file", Err: fmt.Errorf("writing the secret: %v", err)}
		}
		defer remove()
	}
	if a.secret != "" {
		r.Token = a.secret
		if r.TokenFile == "" {
			r.TokenFile = a.cfg.Gateway.TokenFile
		}
	}
	lis = append(lis, l)
	r.GRPC = addrString(l.Addr())
	endpoints := make([]string, 0, len(a.cfg.Trusted))
	for addr := range a.cfg.Trusted {
		endpoints = append(endpoints, addr)
	}
	sort.Strings(endpoints)
	for _, addr := range endpoints {
		tl, err := server.ListenTrusted(addr, a.cfg.Trusted[addr])
		if err != nil {
			closeAll()
			a.core.Stop()
			return &config.FieldError{Field: "trusted", Err: hint(err)}
		}
		lis = append(lis, tl)
		r.Trusted = append(r.Trusted, addr)
	}

	errc := make(chan error, len(lis)+1)
	var wg sync.WaitGroup
	for _, l := range lis {
		wg.Add(1)
		go func() { defer wg.Done(); errc <- a.core.Serve(l) }()
	}
	stopCore := func() {
		a.core.Stop()
		wg.Wait()
	}

	var front *front
	var child *child
	if a.cfg.HTTP != "" && a.cfg.HTTP != "off" {
		if a.isolated() && a.cfg.Isolation.Split {
			child, r.HTTP, err = a.startChild(ctx)
		} else {
			front, err = a.startFront()
			if front != nil {
				r.HTTP = front.url
			}
		}
		if err != nil {
			stopCore()
			return err
		}
	}
	r.OpenURL = r.HTTP
	if r.HTTP != "" && a.secret != "" {
		r.OpenURL = r.HTTP + "/?" + gateway.TokenParam + "=" + url.QueryEscape(a.secret)
	}
	a.log.Info("tether: serving", "grpc", r.GRPC, "http", r.HTTP, "trusted", r.Trusted, "pattern", a.cfg.App.Security.Pattern.Use, "data", a.data)
	if a.o.ready != nil {
		a.o.ready(r)
	}
	var runErr error
	var childDone <-chan struct{}
	if child != nil {
		childDone = child.done
	}
	select {
	case runErr = <-errc:
	case <-childDone:
		runErr = errors.New("split mode: the gateway process exited")
	case <-ctx.Done():
	}
	a.log.Info("tether: shutting down", "grace", a.cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout.Duration)
	defer cancel()
	if front != nil {
		front.shutdown(sctx)
	}
	if child != nil {
		child.stop(sctx)
	}
	if err := a.core.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) && runErr == nil {
		runErr = err
	}
	wg.Wait()
	return runErr
}

func addrString(a net.Addr) string {
	if a.Network() == "unix" {
		return "unix://" + a.String()
	}
	return a.String()
}

// hint adds what to do to the listen errors users meet.
func hint(err error) error {
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("%w (another program listens there: stop it, or choose another address)", err)
	case errors.Is(err, syscall.EACCES):
		return fmt.Errorf("%w (this user may not listen there: choose a port above 1023 or a folder you own)", err)
	}
	return err
}

// checkStrictArgs refuses a strict command the app does not register.
func checkStrictArgs(strict, registered []string) error {
	for _, n := range strict {
		if n != "*" && !slices.Contains(registered, n) {
			return &config.FieldError{Field: "limits.strict_args", Err: fmt.Errorf("no command %q is registered", n)}
		}
	}
	return nil
}
