package bench

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/capsengine/capsengine/internal/units"
)

// SweepOptions configure Sweep: one run of the benchmark per size, the
// JIDs and keys scaled with the presences as in the default workload (half as many
// JIDs as presences, one key per 200 presences).
type SweepOptions struct {
	// Sizes are the presences of each run, smallest first.
	Sizes []int
	// Spec is the workload of every run but its sizes.
	Spec Spec
	// Run runs one size and returns its report. The command runs each in
	// a process of its own, so that each size's peak RSS and heap are its
	// own, not the high-water mark of the sizes before it.
	Run func(ctx context.Context, spec Spec) (*Report, error)
	// Progress, when set, is told each run as it starts (nil: silent).
	Progress func(i int, spec Spec)
	Command  string
}

// SweepReport is the cost curve: one point per size.
type SweepReport struct {
	Version      int          `json:"version"`
	Command      string       `json:"command,omitempty"`
	Machine      machineInfo  `json:"machine"`
	Points       []SweepPoint `json:"points"`
	TotalSeconds float64      `json:"total_seconds"`
	Correct      bool         `json:"correct"` // every run held its guarantees (queries == keys, no hang)
}

// SweepPoint is one size's figures: engine throughput per pass, cold-key
// resolve latency, memory.
type SweepPoint struct {
	Presences int `json:"presences"`
	JIDs      int `json:"jids"`
	Unique    int `json:"unique"`
	// Per wall second and per CPU second (steadier on a shared machine).
	WarmPerSec    float64 `json:"warm_per_sec"`
	ColdPerSec    float64 `json:"cold_per_sec"`
	WarmPerCPUSec float64 `json:"warm_per_cpu_sec"`
	ColdPerCPUSec float64 `json:"cold_per_cpu_sec"`
	// ColdKeyP50Ms and ColdKeyP99Ms: from a new key's first presence to
	// its verified answer, during the cold pass.
	ColdKeyP50Ms float64 `json:"cold_key_p50_ms"`
	ColdKeyP99Ms float64 `json:"cold_key_p99_ms"`
	BytesPerJID  float64 `json:"heap_bytes_per_jid"`
	PeakRSSBytes int64   `json:"peak_rss_bytes"`
	Seconds      float64 `json:"seconds"`
	Correct      bool    `json:"correct"`
}

// ScaledSpec is base with presences n and the JIDs and keys scaled as
// DefaultSpec scales them.
func ScaledSpec(base Spec, n int) Spec {
	d := defaultSpec()
	s := base
	s.Presences = n
	s.JIDs = max(1, int(int64(n)*int64(d.JIDs)/int64(d.Presences)))
	s.Unique = max(100, int(int64(n)*int64(d.Unique)/int64(d.Presences)))
	return s
}

// ParseSizes reads "1M,2M,5M,10M" (k and M suffixes, or plain numbers).
func ParseSizes(v string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		mul := 1
		switch {
		case strings.HasSuffix(f, "M"), strings.HasSuffix(f, "m"):
			mul, f = 1_000_000, f[:len(f)-1]
		case strings.HasSuffix(f, "k"), strings.HasSuffix(f, "K"):
			mul, f = 1_000, f[:len(f)-1]
		}
		x, err := strconv.ParseFloat(f, 64)
		if err != nil || x <= 0 || x*float64(mul) > 1e9 {
			return nil, fmt.Errorf("bad size %q: want e.g. 500k, 2M (at most 1000M)", f)
		}
		n := int(math.Round(x * float64(mul)))
		if len(out) > 0 && n <= out[len(out)-1] {
			return nil, errors.New("sizes must grow")
		}
		out = append(out, n)
	}
	if len(out) < 2 {
		return nil, errors.New("a sweep needs at least two sizes")
	}
	return out, nil
}

// Sweep runs the benchmark at each size.
func Sweep(ctx context.Context, o SweepOptions) (*SweepReport, error) {
	began := time.Now()
	r := &SweepReport{Version: 1, Command: o.Command, Machine: machine(), Correct: true}
	for i, n := range o.Sizes {
		spec := ScaledSpec(o.Spec, n)
		if o.Progress != nil {
			o.Progress(i, spec)
		}
		rep, err := o.Run(ctx, spec)
		if err != nil {
			return r, fmt.Errorf("sweep at %s presences: %w", count(n), err)
		}
		r.Points = append(r.Points, sweepPoint(spec, rep))
		r.Correct = r.Correct && r.Points[len(r.Points)-1].Correct
	}
	r.TotalSeconds = time.Since(began).Seconds()
	return r, nil
}

func sweepPoint(spec Spec, rep *Report) SweepPoint {
	p := SweepPoint{Presences: spec.Presences, JIDs: spec.JIDs, Unique: spec.Unique,
		Seconds: rep.TotalSeconds, Correct: rep.Targets.Correct()}
	e := rep.Engine
	if e == nil {
		return p
	}
	for _, ph := range e.Phases {
		switch ph.Name {
		case "cold":
			p.ColdPerSec, p.ColdPerCPUSec = ph.PresencesPerSec, ph.PresencesPerCPUSec
		case "warm":
			p.WarmPerSec, p.WarmPerCPUSec = ph.PresencesPerSec, ph.PresencesPerCPUSec
		}
	}
	p.ColdKeyP50Ms, p.ColdKeyP99Ms = e.ResolveLatency.P50Ms, e.ResolveLatency.P99Ms
	p.BytesPerJID, p.PeakRSSBytes = e.BytesPerJID, e.PeakRSSBytes
	return p
}

// WriteText prints the cost curve as a table, with each size's warm
// throughput relative to the second size's (the default workload's 2M in
// the usual sweep).
func (r *SweepReport) WriteText(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "presences\tJIDs\tkeys\twarm/s\twarm/CPU-s\tcold/s\tcold/CPU-s\tcold-key p50\tp99\theap/JID\tpeak RSS\tvs ref warm\t")
	ref := r.reference()
	for _, p := range r.Points {
		rel := "–"
		if ref != nil && ref.WarmPerCPUSec > 0 {
			rel = fmt.Sprintf("%.2f×", p.WarmPerCPUSec/ref.WarmPerCPUSec)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.1f ms\t%.1f ms\t%.0f B\t%s\t%s\t\n",
			count(p.Presences), count(p.JIDs), count(p.Unique), si(p.WarmPerSec), si(p.WarmPerCPUSec),
			si(p.ColdPerSec), si(p.ColdPerCPUSec), p.ColdKeyP50Ms, p.ColdKeyP99Ms, p.BytesPerJID,
			units.Bytes(p.PeakRSSBytes), rel)
	}
	tw.Flush()
	if ref != nil {
		fmt.Fprintf(w, "\nvs ref: warm presences per CPU second relative to the %s-presence run.\n", count(ref.Presences))
	}
	if !r.Correct {
		fmt.Fprintln(w, "a run broke a guarantee (queries ≠ keys, a hang or a liar believed): see its report")
	}
	fmt.Fprintf(w, "sweep: %.0f s\n", r.TotalSeconds)
}

// reference is the point others are compared with: the default
// workload's size when swept, else the first.
func (r *SweepReport) reference() *SweepPoint {
	if len(r.Points) == 0 {
		return nil
	}
	for i := range r.Points {
		if r.Points[i].Presences == defaultSpec().Presences {
			return &r.Points[i]
		}
	}
	return &r.Points[0]
}

// WriteSweepHTMLFile writes the cost curve as a self-contained HTML page:
// the table and plots of throughput, latency and memory against size.
func WriteSweepHTMLFile(path string, r *SweepReport) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := sweepTemplate.Execute(f, sweepHTML{R: r, Charts: sweepCharts(r)}); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

type sweepHTML struct {
	R      *SweepReport
	Charts template.HTML
}

// sweepCharts plots each figure against the presences, on a log axis:
// sizes grow by factors, and a flat line is what scaling well looks like.
func sweepCharts(r *SweepReport) template.HTML {
	if len(r.Points) == 0 {
		return ""
	}
	x0, x1 := float64(r.Points[0].Presences), float64(r.Points[len(r.Points)-1].Presences)
	var xt []float64
	for _, p := range r.Points {
		xt = append(xt, float64(p.Presences))
	}
	plot := func(title, ylabel string, yfmt func(float64) string, ss ...series) string {
		ymax := 0.0
		for _, s := range ss {
			for _, p := range s.pts {
				ymax = math.Max(ymax, p.y)
			}
		}
		yt := niceTicks(0, math.Max(ymax, 1e-9)*1.1, 5)
		c := &chart{title: title, xlabel: "presences (JIDs and keys scaled with them)", ylabel: ylabel,
			w: 960, h: 260, x0: x0, x1: x1, y0: 0, y1: yt[len(yt)-1], logX: true, yfmt: yfmt, xfmt: si}
		return c.draw(ss, xt, yt)
	}
	line := func(name, colour string, dashed bool, f func(SweepPoint) float64) series {
		s := series{name: name, colour: colour, dashed: dashed}
		for _, p := range r.Points {
			s.pts = append(s.pts, point{float64(p.Presences), f(p)})
		}
		return s
	}
	var b strings.Builder
	b.WriteString(plot("Throughput", "presences/s", si,
		line("warm /s", "#1f77b4", false, func(p SweepPoint) float64 { return p.WarmPerSec }),
		line("warm /CPU-s", "#1f77b4", true, func(p SweepPoint) float64 { return p.WarmPerCPUSec }),
		line("cold /s", "#d62728", false, func(p SweepPoint) float64 { return p.ColdPerSec }),
		line("cold /CPU-s", "#d62728", true, func(p SweepPoint) float64 { return p.ColdPerCPUSec })))
	b.WriteString(plot("Cold-key resolve latency", "ms", trimZeroFloat,
		line("p50", "#2ca02c", false, func(p SweepPoint) float64 { return p.ColdKeyP50Ms }),
		line("p99", "#9467bd", false, func(p SweepPoint) float64 { return p.ColdKeyP99Ms })))
	b.WriteString(plot("Memory", "bytes per JID (heap) · MiB (RSS)", trimZeroFloat,
		line("heap B/JID", "#8c564b", false, func(p SweepPoint) float64 { return p.BytesPerJID }),
		line("peak RSS MiB", "#e377c2", false, func(p SweepPoint) float64 { return float64(p.PeakRSSBytes) / (1 << 20) })))
	return template.HTML(b.String())
}

var sweepTemplate = template.Must(template.New("sweep").Funcs(template.FuncMap{
	"count": count, "si": si, "bytes": units.Bytes,
	"f1": func(f float64) string { return fmt.Sprintf("%.1f", f) },
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>capsengine bench --sweep</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1000px;color:#222;padding:0 12px}
h1{font-size:22px}table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}
th{background:#f6f6f6}code{background:#f4f4f4;padding:1px 4px;border-radius:3px}.note{color:#666;font-size:12px}
svg{display:block;margin:12px 0;max-width:100%;height:auto}.bad{color:#cf222e;font-weight:600}
</style>
</head>
<body>
<h1>capsengine bench --sweep: the cost curve</h1>
<p class="note">{{with .R.Command}}<code>{{.}}</code> · {{end}}{{.R.Machine.Go}} {{.R.Machine.OS}}/{{.R.Machine.Arch}}, {{.R.Machine.CPUs}} CPUs · {{f1 .R.TotalSeconds}} s</p>
{{if not .R.Correct}}<p class="bad">A run broke a guarantee: see its own report.</p>{{end}}
<table>
<tr><th>presences</th><th>JIDs</th><th>keys</th><th>warm/s</th><th>warm/CPU-s</th><th>cold/s</th><th>cold/CPU-s</th><th>cold-key p50</th><th>p99</th><th>heap/JID</th><th>peak RSS</th></tr>
{{range .R.Points}}<tr><td>{{count .Presences}}</td><td>{{count .JIDs}}</td><td>{{count .Unique}}</td><td>{{si .WarmPerSec}}</td><td>{{si .WarmPerCPUSec}}</td><td>{{si .ColdPerSec}}</td><td>{{si .ColdPerCPUSec}}</td><td>{{f1 .ColdKeyP50Ms}} ms</td><td>{{f1 .ColdKeyP99Ms}} ms</td><td>{{printf "%.0f" .BytesPerJID}} B</td><td>{{bytes .PeakRSSBytes}}</td></tr>
{{end}}</table>
{{.Charts}}
</body>
</html>
`))
