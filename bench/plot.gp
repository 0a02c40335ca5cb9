# bench/run.sh: gnuplot -e "scale='...'; apdu='...'; output='...'" bench/plot.gp
set terminal pngcairo size 1000,420 font ",10"
set output output
set multiplot layout 1,2 title "gp-p11: secured APDUs through pcscd to simulated cards (one run)"
set style data histograms
set style fill solid 0.8 border -1
set boxwidth 0.7
set grid ytics
set ylabel "round trips per second"
set title "one card: raw PC/SC vs CKM_GP_APDU (keys in SoftHSM)" noenhanced
set yrange [0:*]
unset key
plot apdu using 2:xtic(1) lc rgb "#4477aa"
set style data linespoints
set title "scaling: one thread per card"
set yrange [0:*]
set y2range [0:*]
set xlabel "cards"
set ylabel "secured commands per second (all cards)"
set y2label "per-card median latency (ms)"
set y2tics
set xtics (1, 2, 4, 8)
set key top left
plot scale using 1:2 title "commands/s" lw 2 lc rgb "#228833", \
     scale using 1:3 axes x1y2 title "latency ms" lw 2 dt 2 lc rgb "#cc6677"
unset multiplot
