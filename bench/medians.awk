# Medians of a table of runs, one line per run:
#   CORPUS SETTING WALL_S USER_S SYS_S MAX_RSS_KIB MINOR_FAULTS
# printed per corpus and setting, in the order they first appear, as
#   CORPUS SETTING WALL_S USER_S SYS_S MAX_RSS_MIB MINOR_FAULTS
# then, for every setting but a corpus's first, its speed over the first's
# (the first's wall time over its own) in each round (the n-th run of each
# setting of a corpus ran in the same round), and the median of those
# (used by bench/compare-builds.sh and bench/malloc-settings.sh).
function median(a, k,   i, j, t) {
  for (i = 1; i <= k; i++)
    for (j = i + 1; j <= k; j++)
      if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
  return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
}
NF >= 7 {
  key = $1 " " $2
  if (!(key in n)) {
    order[++keys] = key
    if (!($1 in first)) first[$1] = key
  }
  i = ++n[key]
  wall[key, i] = $3; user[key, i] = $4; sys[key, i] = $5; rss[key, i] = $6; faults[key, i] = $7
}
END {
  print "corpus setting wall_s user_s sys_s max_rss_mib minor_faults (medians)"
  for (o = 1; o <= keys; o++) {
    key = order[o]
    for (i = 1; i <= n[key]; i++) {
      w[i] = wall[key, i]; u[i] = user[key, i]; s[i] = sys[key, i]; m[i] = rss[key, i]; f[i] = faults[key, i]
    }
    printf "%s %.2f %.2f %.2f %.1f %d\n", key, median(w, n[key]), median(u, n[key]), median(s, n[key]),
      median(m, n[key]) / 1024, median(f, n[key])
  }
  print ""
  print "corpus setting: speed over the corpus's first setting, per round; median"
  for (o = 1; o <= keys; o++) {
    key = order[o]
    split(key, parts, " ")
    base = first[parts[1]]
    if (key == base) continue
    k = n[key] < n[base] ? n[key] : n[base]
    line = key ":"
    for (i = 1; i <= k; i++) {
      r[i] = wall[base, i] / wall[key, i]
      line = line sprintf(" %.3f", r[i])
    }
    printf "%s; median %.3f\n", line, median(r, k)
  }
}
