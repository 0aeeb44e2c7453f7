/* Keyhold's cluster rules over an atomic, ordered log (etcd): nodes apply the log in order and
   publish how far they got, a write is acknowledged once every member applied it, a read of an
   object waits while a change to that object is not known to be applied by every member, and an
   operator removes a dead member with a log entry. Checked by scripts/check-models.sh and
   explained in docs/cluster-model.md. Variants (-D...): NO_WAIT_RULE, ACK_EARLY, RM_LIVE and
   IGNORE_REMOVALS each break one rule; STALE_ONLY keeps only the property clients can see (no
   stale read). */

#ifndef N
#define N 3            /* nodes; all are members at the start */
#endif
#ifndef M
#define M 2            /* objects (keys) */
#endif
#ifndef WRITES
#define WRITES 3       /* client writes in a run */
#endif
#ifndef CRASHES
#define CRASHES 1      /* nodes that stop for good (and may then be removed) */
#endif
#define LOGMAX (WRITES + CRASHES)
#if N < 2 || N > 4 || LOGMAX > 6 || M > 15
#error "the rules below are written out for 2-4 nodes, at most 6 log entries and 15 objects"
#endif

#define RM 16          /* an entry whose object is RM + d removes node d */
#define NONE 255
#define ALL ((1 << N) - 1)
#define VER(n, x) ver[(n) * M + (x)]
#define IN(set, m) (((set) >> (m)) & 1)

/* etcd: the log, and membership according to all of it */
byte logLen;
byte entObj[LOGMAX];     /* the object an entry writes, or RM + the node it removes */
byte entVer[LOGMAX];     /* the object's version after the entry */
byte entWriter[LOGMAX];  /* the node whose client waits for the write's acknowledgement, or NONE */
byte headVer[M];         /* each object's newest version in the log */
byte logMembers = ALL;

/* nodes. A node publishes its applied revision to etcd, and the others learn it through their
   watch, late. Knowing less only disables steps (an acknowledgement, a read) and changes no
   step's effect, so every run with late knowledge is also a run of this model, in which a node
   knows the others' applied revisions exactly: checking it covers every delay of the watch and
   of the publication. */
bool alive[N] = 1;
byte applied[N];         /* length of the log prefix the node applied */
byte ver[N * M];         /* the node's applied version of each object */
byte members[N] = ALL;   /* membership according to the node's applied prefix */

/* one read in progress at a time: other reads matter to it only through what they returned
   before it began (in `exposed`), so they may as well be instantaneous */
byte reader = NONE;      /* the node serving the read in progress, or NONE */
byte robj;               /* the object it reads */
byte rfloor;             /* newest version of that object clients had seen when the read began */

/* ghosts: what clients have observed */
byte exposed[M];         /* newest version acknowledged to a writer or returned by a read */
byte writes, crashes, removals;

/* scratch, always zero between steps */
byte m, k, v;

/* The rules, as expressions so that a step is enabled exactly when its rule allows it. */

/* node n knows that every member in its view (its applied prefix) applied the first r entries */
#ifdef IGNORE_REMOVALS
#define HAS(n, i, r) (N <= (i) || applied[i] >= (r))
#else
#define HAS(n, i, r) (N <= (i) || !IN(members[n], i) || applied[i] >= (r))
#endif
#define ALL_APPLIED(n, r) (HAS(n, 0, r) && HAS(n, 1, r) && HAS(n, 2, r) && HAS(n, 3, r))

/* entry k, if n applied it and it changes object x, is known applied by all */
#define SETTLED(n, x, k) (LOGMAX <= (k) || (k) >= applied[n] || entObj[k] != (x) || ALL_APPLIED(n, (k) + 1))

/* the wait rule: n may answer a read of x once every change to x it applied is settled. A change
   n has not applied cannot have been acknowledged or read anywhere, since both need n to have
   applied it. */
#ifdef NO_WAIT_RULE
#define MAY_SERVE(n, x) 1
#else
#define MAY_SERVE(n, x) (SETTLED(n, x, 0) && SETTLED(n, x, 1) && SETTLED(n, x, 2) && \
                         SETTLED(n, x, 3) && SETTLED(n, x, 4) && SETTLED(n, x, 5))
#endif

/* n may acknowledge write k to the client that made it through n */
#ifdef ACK_EARLY
#define ACKABLE(n, k) (LOGMAX > (k) && (k) < logLen && entWriter[k] == (n) && applied[n] > (k))
#else
#define ACKABLE(n, k) (LOGMAX > (k) && (k) < logLen && entWriter[k] == (n) && ALL_APPLIED(n, (k) + 1))
#endif
#define CAN_ACK(n) (ACKABLE(n, 0) || ACKABLE(n, 1) || ACKABLE(n, 2) || ACKABLE(n, 3) || \
                    ACKABLE(n, 4) || ACKABLE(n, 5))

active [N] proctype node() {
  byte n = _pid;   /* constant: adds nothing to the state space */
end:
  do
  /* a client writes an object through member n: one etcd transaction appends the command */
  :: atomic { alive[n] && IN(members[n], n) && writes < WRITES ->
       if :: entObj[logLen] = 0 :: entObj[logLen] = M - 1 fi;
       headVer[entObj[logLen]]++; entVer[logLen] = headVer[entObj[logLen]]; entWriter[logLen] = n;
       printf("node %d: write x%d v%d appended at revision %d\n", n, entObj[logLen], entVer[logLen], logLen + 1);
       logLen++; writes++ }
  /* n applies its next log entry (and publishes its applied revision) */
  :: atomic { alive[n] && applied[n] < logLen ->
       k = applied[n];
       if
       :: entObj[k] >= RM -> members[n] = members[n] & ~(1 << (entObj[k] - RM))
       :: else -> VER(n, entObj[k]) = entVer[k]
       fi;
       applied[n]++; k = 0;
       printf("node %d: applied revision %d\n", n, applied[n]) }
  /* n acknowledges a write its client made through it */
  :: atomic { alive[n] && CAN_ACK(n) ->
       do
       :: ACKABLE(n, k) -> break
       :: else -> k++
       od;
#ifndef STALE_ONLY
       for (m : 0 .. N - 1) { assert(!IN(logMembers, m) || applied[m] > k) };   /* acknowledged only once applied by all */
       m = 0;
#endif
       printf("node %d: acknowledges x%d v%d (revision %d)\n", n, entObj[k], entVer[k], k + 1);
       if :: entVer[k] > exposed[entObj[k]] -> exposed[entObj[k]] = entVer[k] :: else -> skip fi;
       entWriter[k] = NONE; k = 0 }
  /* n stops for good; a write its client was waiting for stays in the log, unacknowledged */
  :: atomic { alive[n] && crashes < CRASHES ->
       alive[n] = 0; crashes++;
       if :: reader == n -> reader = NONE; robj = 0; rfloor = 0 :: else -> skip fi;
       printf("node %d: crashed\n", n) }
  /* a client starts reading an object at member n */
  :: atomic { alive[n] && IN(members[n], n) && reader == NONE ->
       if :: robj = 0 :: robj = M - 1 fi;
       reader = n; rfloor = exposed[robj];
       printf("node %d: read of x%d starts; clients have seen v%d\n", n, robj, rfloor) }
  /* n answers its read once the wait rule allows it */
  :: atomic { reader == n && IN(members[n], n) && MAY_SERVE(n, robj) ->
       v = VER(n, robj);
       printf("node %d: read of x%d returns v%d\n", n, robj, v);
       assert(v >= rfloor);   /* no stale read */
#ifndef STALE_ONLY
       for (m : 0 .. N - 1) { assert(!IN(logMembers, m) || VER(m, robj) >= v) };   /* no dirty read */
       m = 0;
#endif
       if :: v > exposed[robj] -> exposed[robj] = v :: else -> skip fi;
       reader = NONE; robj = 0; rfloor = 0; v = 0 }
  od
}

/* The operator removes a member it asserts is dead, with a log entry: the removal, and every
   later write, no longer waits for that node. */
active proctype operator() {
end:
  do
#ifdef RM_LIVE
  :: atomic { removals < CRASHES ->
#else
  :: atomic { removals < crashes ->
#endif
       do
#ifdef RM_LIVE
       :: IN(logMembers, k) -> break
#else
       :: !alive[k] && IN(logMembers, k) -> break
#endif
       :: else -> k++
       od;
       printf("operator: removes node %d at revision %d\n", k, logLen + 1);
       entObj[logLen] = RM + k; entWriter[logLen] = NONE; logLen++;
       logMembers = logMembers & ~(1 << k); removals++; k = 0 }
  od
}

/* every read finishes (the wait rule never blocks for good while the operator removes dead
   members); checked with weak fairness */
ltl readsFinish { [] ((reader != NONE) -> <> (reader == NONE)) }
