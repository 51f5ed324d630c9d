// Command hostkit-exporter serves the hostkit services' state as Prometheus metrics on
// /metrics (see hostkit-exporter(8)): socket-activated by hostkit-exporter.socket
// (port 9810), asking the services over the bus at every scrape.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hostkit/hostkit/internal/bus"
	"github.com/hostkit/hostkit/internal/lifecycle"
	"github.com/hostkit/hostkit/internal/version"
	"github.com/hostkit/hostkit/services/exporter"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		lifecycle.Fail("hostkit-exporter", err)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("hostkit-exporter", flag.ContinueOnError)
	busSpec := fs.String("bus", "system", bus.FlagUsage)
	listen := fs.String("listen", ":9810", "address to serve on when not socket-activated")
	timeout := fs.Duration("service-timeout", 3*time.Second, "each service's deadline within a scrape")
	idle := fs.Duration("idle-timeout", 5*time.Minute, "when socket-activated, exit after this long without a request (0: never)")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return lifecycle.UsageError(err)
	}
	if fs.NArg() > 0 {
		return lifecycle.UsageError(fmt.Errorf("unexpected argument %q (try --help)", fs.Arg(0)))
	}
	if *showVersion {
		fmt.Println("hostkit-exporter", version.Version)
		return nil
	}
	if *timeout <= 0 {
		return lifecycle.UsageError(errors.New("--service-timeout must be positive"))
	}
	lifecycle.SetupLogging("hostkit-exporter")

	listeners, err := lifecycle.Listeners()
	if err != nil {
		return err
	}
	activated := len(listeners) > 0
	if !activated {
		l, err := net.Listen("tcp", *listen)
		if err != nil {
			return fmt.Errorf("listen on %s: %w", *listen, err)
		}
		listeners = []net.Listener{l}
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(
		&exporter.Exporter{Connect: func() (*dbus.Conn, error) { return bus.Connect(*busSpec) }, Timeout: *timeout},
		collectors.NewBuildInfoCollector(),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hostkit_exporter_build_info",
			Help: "The hostkit version of this exporter; the value is 1.", ConstLabels: prometheus.Labels{"version": version.Version}},
			func() float64 { return 1 }),
	)

	var last atomic.Int64 // Unix nanoseconds of the last request's end; 0 while one runs
	var inFlight atomic.Int32
	last.Store(time.Now().UnixNano())
	metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError, ErrorLog: slogPrinter{}})
	mux := http.NewServeMux()
	mux.Handle("/metrics", metrics)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintln(w, "hostkit-exporter: metrics of the hostkit services are at /metrics (hostkit-exporter(8))")
	})
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			inFlight.Add(1)
			defer func() { last.Store(time.Now().UnixNano()); inFlight.Add(-1) }()
			mux.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	errs := make(chan error, len(listeners))
	for _, l := range listeners {
		go func() { errs <- srv.Serve(l) }()
	}
	lifecycle.Ready(fmt.Sprintf("serving /metrics on %s", listeners[0].Addr()))
	slog.Info("serving", "address", listeners[0].Addr().String(), "socket_activated", activated)

	idleTimeout := time.Duration(0)
	if activated {
		idleTimeout = *idle // the socket stays with systemd: the next scrape starts us again
	}
	waitErr := make(chan error, 1)
	go func() {
		waitErr <- lifecycle.WaitIdle(ctx, idleTimeout, func() time.Duration {
			if inFlight.Load() > 0 {
				return 0
			}
			return time.Since(time.Unix(0, last.Load()))
		})
	}()
	select {
	case err := <-errs:
		return fmt.Errorf("serving HTTP: %w", err)
	case <-waitErr:
	}
	lifecycle.Notify("STOPPING=1")
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}

// slogPrinter sends promhttp's error log to the journal.
type slogPrinter struct{}

func (slogPrinter) Println(v ...any) { slog.Error(fmt.Sprint(v...)) }
