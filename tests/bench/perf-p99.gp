# perf-p99.gp: end-to-end latency against offered load, from the sweep
# that tests/bench/perf.py writes (one line per offered rate).
#   gnuplot -e "data='out/sweep.dat'; output='../../docs/perf-p99.png'" perf-p99.gp
# Columns: offered/s achieved/s fraction p50 p99 p99.9 max (ms) seconds,
# then CPU per incident of the daemon and of Redis (us).

if (!exists("data")) data = 'out/sweep.dat'
if (!exists("output")) output = '../../docs/perf-p99.png'

# the run's commit and date, from the file's last comment line
info = system(sprintf("sed -n 's/^# target_p99_ms [^ ]* commit \\([^ ]*\\) started \\(.*\\)/commit \\1, \\2/p' '%s' | tr _ ' '", data))

set terminal pngcairo size 900,560 font "DejaVu Sans,10"
set output output
set title sprintf("gridrouted: end-to-end latency (input entry → assignment written) against offered load\n{/*0.8 %s}", info)
set xlabel "offered load (incidents/s, fixed rate, open loop)"
set ylabel "latency (ms), log scale"
set logscale y
set yrange [0.5:*]
set xrange [0:*]
set grid xtics ytics mytics
set key top left box opaque
set format x "%.0f"

# the measured maximum (backlog drain: the 100% point) and half of it
stats data using 1 nooutput
top = STATS_max
set arrow 1 from top, graph 0 to top, graph 1 nohead lc rgb "gray40" dt 3
set label 1 "max (backlog drain)" at top, graph 0.04 right offset -0.5,0 tc rgb "gray30"
set arrow 2 from top / 2, graph 0 to top / 2, graph 1 nohead lc rgb "gray40" dt 3
set label 2 "50%" at top / 2, graph 0.04 right offset -0.5,0 tc rgb "gray30"

# 0 ms (under the 1 ms resolution) is drawn at 0.5 ms so the log scale can show it
lo(v) = v < 0.5 ? 0.5 : v

plot data using 1:(lo($5)) with linespoints lw 2 pt 7 title "p99", \
     data using 1:(lo($4)) with linespoints lw 1 pt 6 dt 2 title "p50", \
     data using 1:(lo($6)) with linespoints lw 1 pt 4 dt 3 title "p99.9", \
     5 with lines lc rgb "red" dt 4 title "target: p99 ≤ 5 ms at 50% of max"
