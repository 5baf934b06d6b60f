package bench

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/capsengine/capsengine/internal/units"
)

// WriteHTMLFile writes r as a self-contained HTML page to path.
func WriteHTMLFile(path string, r *Report) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := writeHTML(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeHTML writes r as a self-contained HTML page: tables, and inline
// SVG plots of the throughput over time (one plot per phase, each on its
// own time axis), the cold-key resolve latency distribution and the
// presences/s per phase (engine against baseline when one ran). It loads
// nothing from the network.
func writeHTML(w io.Writer, r *Report) error {
	d := htmlData{R: r, Generated: time.Now().UTC().Format(time.RFC3339)}
	d.Throughput = template.HTML(throughputCharts(r))
	d.Latency = template.HTML(latencyChart(r))
	d.Compare = template.HTML(compareChart(r))
	for _, s := range []*systemReport{r.Engine, r.Baseline} {
		if s != nil {
			d.Systems = append(d.Systems, s)
		}
	}
	for _, p := range r.Engine.Phases {
		row := phaseRow{Name: p.Name, Engine: p}
		if b := r.phase(r.Baseline, p.Name); b != nil {
			row.Baseline = b
			row.Ratio = r.Ratios[p.Name]
			row.CPURatio = r.CPURatios[p.Name]
		}
		d.Phases = append(d.Phases, row)
	}
	t := &r.Targets
	if r.Baseline != nil {
		d.Targets = append(d.Targets,
			target{fmt.Sprintf("warm ≥ %g× baseline presences/s", t.WarmTarget), fmt.Sprintf("%.2f×", t.WarmRatio), t.WarmOK},
			target{fmt.Sprintf("cold ≥ %g× baseline presences/s", t.ColdTarget), fmt.Sprintf("%.2f×", t.ColdRatio), t.ColdOK})
	}
	e := r.Engine
	d.Targets = append(d.Targets,
		target{"disco#info queries == unique keys", fmt.Sprintf("%d queries: %d verified (%d resolvable keys) + %d failed, %d duplicates",
			e.Queries, e.VerifiedQueries, e.ResolvableKeys, e.FailedQueries, e.DuplicateQueries), t.QueriesEqualUniqueKeys},
		target{"every liar caught", fmt.Sprintf("%d of %d", e.Liars.Caught, e.Liars.Answers), t.AllLiarsCaught},
		target{"no hangs", fmt.Sprint(e.Hangs), t.NoHangs},
		target{"peak RSS < 1 GiB", units.Bytes(e.PeakRSSBytes), t.RSSUnder1GiB},
		target{"run < 1 minute", fmt.Sprintf("%.1f s%s", r.TotalSeconds-r.BaselineSeconds, baselineNote(r)), t.UnderOneMinute})
	return pageTemplate.Execute(w, d)
}

type htmlData struct {
	R                            *Report
	Generated                    string
	Throughput, Latency, Compare template.HTML
	Systems                      []*systemReport
	Phases                       []phaseRow
	Targets                      []target
}

type phaseRow struct {
	Name            string
	Engine          phaseReport
	Baseline        *phaseReport
	Ratio, CPURatio float64
}

type target struct {
	Name, Value string
	OK          bool
}

var pageTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"count": count,
	"int":   func(f float64) int { return int(f) },
	"bytes": units.Bytes,
	"f1":    func(f float64) string { return fmt.Sprintf("%.1f", f) },
	"f2":    func(f float64) string { return fmt.Sprintf("%.2f", f) },
	"pct":   func(f float64) string { return fmt.Sprintf("%.1f%%", 100*f) },
	"keys":  sortedKeys,
	"get":   func(m map[string]uint64, k string) uint64 { return m[k] },
	"shown": shownCounters,
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>capsengine bench</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1000px;color:#222;padding:0 12px}
h1{font-size:22px;margin-bottom:4px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd;padding-bottom:3px}
code{background:#f4f4f4;padding:1px 4px;border-radius:3px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}
th{background:#f6f6f6}td:first-child,th:first-child{text-align:left}
.ok{color:#1a7f37;font-weight:600}.missed{color:#cf222e;font-weight:600}
.note{color:#666;font-size:12px}svg{display:block;margin:8px 0}
</style>
</head>
<body>
<h1>capsengine bench</h1>
<p class="note">{{with .R.Command}}<code>{{.}}</code> · {{end}}{{.R.Machine.Go}} {{.R.Machine.OS}}/{{.R.Machine.Arch}}, {{.R.Machine.CPUs}} CPUs (GOMAXPROCS {{.R.Machine.GOMAXPROCS}}){{with .R.Machine.CPUModel}}, {{.}}{{end}}, load {{f2 .R.Machine.Load1}} at start · {{.Generated}} · {{f1 .R.TotalSeconds}} s</p>
<p>Workload: <b>{{count .R.Workload.Presences}}</b> presences from {{count .R.Workload.JIDs}} JIDs announcing {{count .R.Workload.UniqueKeys}} keys ({{count .R.Workload.Resolvable}} resolvable), {{f1 .R.Workload.AvgStanzaBytes}} bytes per stanza on average, {{count .R.Workload.Unavailable}} unavailable, {{count .R.Workload.MUC}} from MUC occupants, {{count .R.Workload.Caps2}} with XEP-0390 hashes ({{.R.Workload.Source}}).
Simulated peers: {{f2 .R.Settings.LatencyMs}} ms median latency (σ {{f2 .R.Settings.Jitter}}), {{count .R.Workload.LiarJIDs}} liars, {{count .R.Workload.ErrorJIDs}} failing and {{count .R.Workload.TimeoutJIDs}} silent JIDs; {{.R.Settings.Workers}} workers, batches of {{.R.Settings.Batch}}, store on {{.R.Settings.Store}}.</p>

<h2>Targets</h2>
<table><tr><th>target</th><th>measured</th><th></th></tr>
{{range .Targets}}<tr><td>{{.Name}}</td><td>{{.Value}}</td><td>{{if .OK}}<span class="ok">ok</span>{{else}}<span class="missed">missed</span>{{end}}</td></tr>
{{end}}</table>

<h2>Throughput per phase</h2>
<table><tr><th>phase</th><th>engine presences/s</th><th>baseline presences/s</th><th>ratio</th><th>engine per CPU-s</th><th>baseline per CPU-s</th><th>CPU ratio</th><th>engine queries</th><th>dedup joins</th></tr>
{{range .Phases}}<tr><td>{{.Name}}</td><td>{{count (int .Engine.PresencesPerSec)}}</td><td>{{with .Baseline}}{{count (int .PresencesPerSec)}}{{else}}–{{end}}</td><td>{{if .Baseline}}{{f2 .Ratio}}×{{else}}–{{end}}</td><td>{{count (int .Engine.PresencesPerCPUSec)}}</td><td>{{with .Baseline}}{{count (int .PresencesPerCPUSec)}}{{else}}–{{end}}</td><td>{{if .Baseline}}{{f2 .CPURatio}}×{{else}}–{{end}}</td><td>{{.Engine.Queries}}</td><td>{{.Engine.DedupJoins}}</td></tr>
{{end}}</table>
<p class="note">Presences/s is wall time from the first stanza to the moment every presence was applied and every lookup it started had ended. Per CPU-s divides by the process's CPU time in the phase, which other work on a shared machine disturbs less.</p>
{{.Compare}}
{{.Throughput}}

<h2>Cold keys</h2>
{{.Latency}}
<table><tr><th></th>{{range .Systems}}<th>{{.Name}}</th>{{end}}</tr>
<tr><td>resolve p50 / p99 / p999 (ms)</td>{{range .Systems}}<td>{{f2 .ResolveLatency.P50Ms}} / {{f2 .ResolveLatency.P99Ms}} / {{f2 .ResolveLatency.P999Ms}}</td>{{end}}</tr>
<tr><td>resolve, keys whose first announcer is honest, p50 / p99 / p999 (ms)</td>{{range .Systems}}<td>{{f2 .HonestFirstLatency.P50Ms}} / {{f2 .HonestFirstLatency.P99Ms}} / {{f2 .HonestFirstLatency.P999Ms}}</td>{{end}}</tr>
<tr><td>resolve from the first honest announcer's presence, p50 / p99 / p999 (ms)</td>{{range .Systems}}<td>{{f2 .FromHonestLatency.P50Ms}} / {{f2 .FromHonestLatency.P99Ms}} / {{f2 .FromHonestLatency.P999Ms}}</td>{{end}}</tr>
<tr><td>the stream's own wait, first presence to first honest presence: a floor under resolve, p99 / p999 (ms)</td>{{range .Systems}}<td>{{f2 .StreamWait.P99Ms}} / {{f2 .StreamWait.P999Ms}}</td>{{end}}</tr>
<tr><td>engine: Wait for the key's first JID returned, p50 / p99 (ms)</td>{{range .Systems}}<td>{{if .WaitLatency.Count}}{{f2 .WaitLatency.P50Ms}} / {{f2 .WaitLatency.P99Ms}}{{else}}–{{end}}</td>{{end}}</tr>
<tr><td>first query after p50 / p99 (ms)</td>{{range .Systems}}<td>{{f2 .QueryDelay.P50Ms}} / {{f2 .QueryDelay.P99Ms}}</td>{{end}}</tr>
<tr><td>keys measured / failed first lookups</td>{{range .Systems}}<td>{{.ResolveLatency.Count}} / {{.ResolveLatency.Failed}}</td>{{end}}</tr>
<tr><td>queries (verified + failed)</td>{{range .Systems}}<td>{{.Queries}} ({{.VerifiedQueries}} + {{.FailedQueries}})</td>{{end}}</tr>
<tr><td>unique / resolvable / resolved keys</td>{{range .Systems}}<td>{{.UniqueKeys}} / {{.ResolvableKeys}} / {{.ResolvedKeys}}</td>{{end}}</tr>
<tr><td>duplicate queries</td>{{range .Systems}}<td>{{.DuplicateQueries}}</td>{{end}}</tr>
<tr><td>hedged queries (a second announcer asked while the first was slow)</td>{{range .Systems}}<td>{{.HedgedQueries}}</td>{{end}}</tr>
<tr><td>dedup joins</td>{{range .Systems}}<td>{{.DedupJoins}}</td>{{end}}</tr>
<tr><td>liars caught / wrong answers</td>{{range .Systems}}<td>{{.Liars.Caught}} / {{.Liars.Answers}}</td>{{end}}</tr>
<tr><td>hangs</td>{{range .Systems}}<td>{{.Hangs}}</td>{{end}}</tr>
</table>

<h2>Memory and storage</h2>
<table><tr><th></th>{{range .Systems}}<th>{{.Name}}</th>{{end}}</tr>
<tr><td>peak RSS</td>{{range .Systems}}<td>{{bytes .PeakRSSBytes}}</td>{{end}}</tr>
<tr><td>live heap after the warm pass</td>{{range .Systems}}<td>{{bytes .HeapBytes}}</td>{{end}}</tr>
<tr><td>JIDs in the table</td>{{range .Systems}}<td>{{count .JIDs}}</td>{{end}}</tr>
<tr><td>bytes per JID (heap / JIDs)</td>{{range .Systems}}<td>{{int .BytesPerJID}}</td>{{end}}</tr>
<tr><td>store on disk</td>{{range .Systems}}<td>{{if .StoreDiskBytes}}{{bytes .StoreDiskBytes}}{{else}}–{{end}}</td>{{end}}</tr>
</table>
<p class="note">The workload ({{bytes .R.Workload.Bytes}}) is a read-only file mapping outside the Go heap; pages are dropped from the resident set as the workers pass them, so peak RSS holds only a window of it.</p>

<h2>Counters</h2>
{{range .Systems}}{{$s := .}}<table><tr><th>{{.Name}}</th>{{range .Phases}}<th>{{.Name}}</th>{{end}}</tr>
{{range shown $.R $s}}{{$k := .}}<tr><td>{{$k}}</td>{{range $s.Phases}}<td>{{get .Counters $k}}</td>{{end}}</tr>
{{end}}</table>
{{end}}
</body>
</html>
`))

// Series colours: engine phases solid, baseline dashed.
var phaseColour = map[string]string{"cold": "#1f77b4", "warm": "#2ca02c", "restart": "#9467bd"}

type point struct{ x, y float64 }

type series struct {
	name   string
	colour string
	dashed bool
	pts    []point
}

// chart draws line charts on linear or log-x axes.
type chart struct {
	title, xlabel, ylabel string
	w, h                  float64
	x0, x1, y0, y1        float64
	logX                  bool
	yfmt, xfmt            func(float64) string
}

const (
	mLeft, mRight, mTop, mBottom = 70.0, 170.0, 30.0, 42.0
)

func (c *chart) px(x float64) float64 {
	if c.logX {
		x, c0, c1 := math.Log10(math.Max(x, c.x0)), math.Log10(c.x0), math.Log10(c.x1)
		return mLeft + (x-c0)/(c1-c0)*(c.w-mLeft-mRight)
	}
	return mLeft + (x-c.x0)/(c.x1-c.x0)*(c.w-mLeft-mRight)
}

func (c *chart) py(y float64) float64 {
	return c.h - mBottom - (y-c.y0)/(c.y1-c.y0)*(c.h-mTop-mBottom)
}

func (c *chart) draw(ss []series, xticks, yticks []float64) string {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="11">`, c.w, c.h, c.w, c.h)
	fmt.Fprintf(&b, `<title>%s</title>`, esc(c.title))
	fmt.Fprintf(&b, `<text x="%.0f" y="18" font-size="13" font-weight="bold">%s</text>`, mLeft, esc(c.title))
	for _, t := range yticks {
		y := c.py(t)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#eee"/>`, mLeft, y, c.w-mRight, y)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`, mLeft-6, y, esc(c.yfmt(t)))
	}
	for _, t := range xticks {
		x := c.px(t)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#eee"/>`, x, mTop, x, c.h-mBottom)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, x, c.h-mBottom+15, esc(c.xfmt(t)))
	}
	fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#999"/>`, mLeft, mTop, c.w-mLeft-mRight, c.h-mTop-mBottom)
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, mLeft+(c.w-mLeft-mRight)/2, c.h-6, esc(c.xlabel))
	fmt.Fprintf(&b, `<text transform="translate(14 %.1f) rotate(-90)" text-anchor="middle">%s</text>`, mTop+(c.h-mTop-mBottom)/2, esc(c.ylabel))
	for i, s := range ss {
		if len(s.pts) == 0 {
			continue
		}
		var pts strings.Builder
		for _, p := range s.pts {
			fmt.Fprintf(&pts, "%.1f,%.1f ", c.px(p.x), c.py(math.Min(p.y, c.y1)))
		}
		dash := ""
		if s.dashed {
			dash = ` stroke-dasharray="6 3"`
		}
		fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="1.6"%s/>`, strings.TrimSpace(pts.String()), s.colour, dash)
		ly := mTop + 8 + float64(i)*18
		lx := c.w - mRight + 12
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"%s/>`, lx, ly, lx+22, ly, s.colour, dash)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" dominant-baseline="middle">%s</text>`, lx+28, ly, esc(s.name))
	}
	b.WriteString(`</svg>`)
	return b.String()
}

func esc(s string) string { return template.HTMLEscapeString(s) }

// niceTicks returns about n round tick values covering [lo, hi].
func niceTicks(lo, hi float64, n int) []float64 {
	if hi <= lo {
		hi = lo + 1
	}
	raw := (hi - lo) / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var out []float64
	t := math.Ceil(lo/step) * step
	for ; t < hi-step*1e-9; t += step {
		out = append(out, t)
	}
	return append(out, t) // the last tick is at or above hi
}

// si formats 1234567 as 1.23M.
func si(f float64) string {
	switch a := math.Abs(f); {
	case a >= 1e6:
		return trimZero(fmt.Sprintf("%.2f", f/1e6)) + "M"
	case a >= 1e3:
		return trimZero(fmt.Sprintf("%.1f", f/1e3)) + "k"
	}
	return trimZero(fmt.Sprintf("%.2f", f))
}

func trimZero(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// throughputCharts draws one plot per phase, engine and baseline on it,
// each on its own time axis: a warm pass of a few milliseconds next to a
// cold pass of a minute would otherwise be a sliver at the origin.
func throughputCharts(r *Report) string {
	var b strings.Builder
	for _, p := range r.Engine.Phases {
		b.WriteString(throughputChart(r, p.Name))
	}
	return b.String()
}

// throughputChart plots the throughput samples of phase name. A sample is
// the rate over the interval ending at its time, so each curve starts at
// 0 with its first sample's rate: a phase shorter than one sampling
// interval (a single sample) is a flat line across the plot, not a point.
// Phases under 2 s are drawn in milliseconds.
func throughputChart(r *Report, name string) string {
	var ss []series
	xmax, ymax := 0.0, 0.0
	var secs []string
	for _, sys := range []*systemReport{r.Engine, r.Baseline} {
		p := r.phase(sys, name)
		if p == nil {
			continue
		}
		s := series{name: sys.Name, colour: phaseColour[p.Name], dashed: sys == r.Baseline}
		// A moving average over three samples (300 ms) tames the noise.
		for i := range p.Throughput {
			sum, n := 0.0, 0
			for j := max(0, i-1); j <= min(len(p.Throughput)-1, i+1); j++ {
				sum += p.Throughput[j].PPS
				n++
			}
			pt := point{p.Throughput[i].T, sum / float64(n)}
			if i == 0 {
				s.pts = append(s.pts, point{0, pt.y})
			}
			s.pts = append(s.pts, pt)
			xmax, ymax = math.Max(xmax, pt.x), math.Max(ymax, pt.y)
		}
		ss = append(ss, s)
		secs = append(secs, fmt.Sprintf("%s %s", sys.Name, duration(p.Seconds)))
	}
	if ymax == 0 {
		ymax = 1
	}
	unit, scale := "seconds", 1.0
	if xmax < 2 {
		unit, scale = "ms", 1000
	}
	for i := range ss {
		for j := range ss[i].pts {
			ss[i].pts[j].x *= scale
		}
	}
	xmax *= scale
	if xmax == 0 {
		xmax = 1
	}
	yt := niceTicks(0, ymax*1.05, 5)
	xt := niceTicks(0, xmax, 8)
	title := fmt.Sprintf("Throughput over time, %s pass (%s)", name, strings.Join(secs, ", "))
	c := &chart{title: title, xlabel: unit + " since the phase started", ylabel: "presences/s",
		w: 960, h: 240, x0: 0, x1: xt[len(xt)-1], y0: 0, y1: yt[len(yt)-1], yfmt: si, xfmt: tickFormat(xt)}
	return c.draw(ss, xt, yt)
}

// tickFormat formats ticks with as many decimals as their step needs, so
// that neighbouring ticks never print alike (0.002 and 0.004 are not both
// "0").
func tickFormat(ticks []float64) func(float64) string {
	dec := 0
	if len(ticks) > 1 {
		if step := ticks[1] - ticks[0]; step > 0 && step < 1 {
			dec = int(math.Ceil(-math.Log10(step) - 1e-9))
		}
	}
	return func(f float64) string { return strconv.FormatFloat(f, 'f', dec, 64) }
}

// duration formats a phase's length: ms under a second.
func duration(secs float64) string {
	if secs < 1 {
		return trimZeroFloat(secs*1000) + " ms"
	}
	return trimZero(fmt.Sprintf("%.1f", secs)) + " s"
}

func trimZeroFloat(f float64) string { return trimZero(fmt.Sprintf("%.2f", f)) }

func latencyChart(r *Report) string {
	var ss []series
	xmax := 1.0
	for i, sys := range []*systemReport{r.Engine, r.Baseline} {
		if sys == nil || len(sys.ResolveLatency.CDF) == 0 {
			continue
		}
		s := series{name: fmt.Sprintf("%s (p50 %s ms)", sys.Name, trimZeroFloat(sys.ResolveLatency.P50Ms)), colour: []string{"#1f77b4", "#ff7f0e"}[i], dashed: i == 1}
		for _, p := range sys.ResolveLatency.CDF {
			s.pts = append(s.pts, point{p.Ms, p.Share * 100})
			xmax = math.Max(xmax, p.Ms)
		}
		ss = append(ss, s)
	}
	var xt []float64
	for t := 0.1; t <= xmax*1.0001; t *= 10 {
		xt = append(xt, t)
	}
	x1 := math.Pow(10, math.Ceil(math.Log10(xmax)))
	if len(xt) == 0 || xt[len(xt)-1] < x1 {
		xt = append(xt, x1)
	}
	c := &chart{title: "Cold-key resolve latency (cumulative)", xlabel: "ms from the key's first presence to its verified answer (log scale)",
		ylabel: "% of keys resolved", w: 960, h: 300, x0: 0.1, x1: x1, y0: 0, y1: 100, logX: true,
		yfmt: func(f float64) string { return fmt.Sprintf("%.0f%%", f) }, xfmt: si}
	return c.draw(ss, xt, []float64{0, 25, 50, 75, 100})
}

// compareChart draws grouped bars: presences/s and presences per CPU-s
// of each phase, engine next to baseline, with the ratio on top.
func compareChart(r *Report) string {
	type bar struct {
		label    string
		eng, bas float64
		ratio    float64
		hasBase  bool
	}
	var bars []bar
	for _, p := range r.Engine.Phases {
		bw := bar{label: p.Name + " (wall)", eng: p.PresencesPerSec}
		bc := bar{label: p.Name + " (CPU)", eng: p.PresencesPerCPUSec}
		if b := r.phase(r.Baseline, p.Name); b != nil {
			bw.bas, bw.ratio, bw.hasBase = b.PresencesPerSec, r.Ratios[p.Name], true
			bc.bas, bc.ratio, bc.hasBase = b.PresencesPerCPUSec, r.CPURatios[p.Name], true
		}
		bars = append(bars, bw, bc)
	}
	ymax := 1.0
	for _, b := range bars {
		ymax = math.Max(ymax, math.Max(b.eng, b.bas))
	}
	yt := niceTicks(0, ymax*1.1, 5)
	c := &chart{w: 960, h: 300, x0: 0, x1: float64(len(bars)), y0: 0, y1: yt[len(yt)-1]}
	var s strings.Builder
	fmt.Fprintf(&s, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="11">`, c.w, c.h, c.w, c.h)
	title := "Engine: presences per second of wall time and of CPU time, per phase"
	if r.Baseline != nil {
		title = "Engine vs baseline: presences per second of wall time and of CPU time"
	}
	fmt.Fprintf(&s, `<title>%s</title>`, esc(title))
	fmt.Fprintf(&s, `<text x="%.0f" y="18" font-size="13" font-weight="bold">%s</text>`, mLeft, esc(title))
	for _, t := range yt {
		y := c.py(t)
		fmt.Fprintf(&s, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#eee"/>`, mLeft, y, c.w-mRight, y)
		fmt.Fprintf(&s, `<text x="%.1f" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`, mLeft-6, y, si(t))
	}
	slot := (c.w - mLeft - mRight) / float64(max(len(bars), 1))
	bw := slot * 0.32
	for i, b := range bars {
		x := mLeft + float64(i)*slot + slot*0.15
		y := c.py(b.eng)
		fmt.Fprintf(&s, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#1f77b4"><title>engine %s: %s/s</title></rect>`, x, y, bw, c.py(0)-y, esc(b.label), si(b.eng))
		if b.hasBase {
			yb := c.py(b.bas)
			fmt.Fprintf(&s, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#ff7f0e"><title>baseline %s: %s/s</title></rect>`, x+bw, yb, bw, c.py(0)-yb, esc(b.label), si(b.bas))
			fmt.Fprintf(&s, `<text x="%.1f" y="%.1f" text-anchor="middle" font-weight="bold">%.1f×</text>`, x+bw, math.Min(y, yb)-5, b.ratio)
		}
		fmt.Fprintf(&s, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, x+bw, c.h-mBottom+15, esc(b.label))
	}
	fmt.Fprintf(&s, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#999"/>`, mLeft, mTop, c.w-mLeft-mRight, c.h-mTop-mBottom)
	fmt.Fprintf(&s, `<text transform="translate(14 %.1f) rotate(-90)" text-anchor="middle">presences/s</text>`, mTop+(c.h-mTop-mBottom)/2)
	lx := c.w - mRight + 12
	fmt.Fprintf(&s, `<rect x="%.1f" y="%.1f" width="14" height="10" fill="#1f77b4"/><text x="%.1f" y="%.1f">engine</text>`, lx, mTop+4, lx+20, mTop+13)
	if r.Baseline != nil {
		fmt.Fprintf(&s, `<rect x="%.1f" y="%.1f" width="14" height="10" fill="#ff7f0e"/><text x="%.1f" y="%.1f">baseline</text>`, lx, mTop+22, lx+20, mTop+31)
	}
	s.WriteString(`</svg>`)
	return s.String()
}

// shownCounters lists the counters of sys to tabulate: all of them, except
// the cluster ones (cluster_…) when r is not a cluster run and they stayed
// 0 in every phase — a single process never moves them.
func shownCounters(r *Report, sys *systemReport) []string {
	var out []string
	for _, k := range sortedKeys(sys.Counters) {
		if !r.Settings.Cluster && strings.HasPrefix(k, "cluster_") {
			zero := sys.Counters[k] == 0
			for _, p := range sys.Phases {
				zero = zero && p.Counters[k] == 0
			}
			if zero {
				continue
			}
		}
		out = append(out, k)
	}
	return out
}
