module keyhold.dev/bench/loadgen

go 1.19
