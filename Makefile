# Thin shim over meson so the README's two commands work on a fresh machine.
#   make run    install deps, build, mount ./sample/buckets on ./sample/mnt
#   make check  install test deps, build with ASan+UBSan, run every test
BUILD ?= build
CHECK_BUILD ?= build-check
SAMPLE ?= $(CURDIR)/sample

.PHONY: all deps build run check clean bench

all: build

deps:
	packaging/deps.sh build

$(BUILD)/build.ninja:
	meson setup $(BUILD) --buildtype=release -Dtests=false

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

run: build
	@mkdir -p $(SAMPLE)/buckets/photos $(SAMPLE)/mnt
	@[ -e $(SAMPLE)/buckets/photos/hello.txt ] || echo "hello from bucketfs" > $(SAMPLE)/buckets/photos/hello.txt
	@mountpoint -q $(SAMPLE)/mnt && fusermount3 -u -z $(SAMPLE)/mnt || true
	@echo "bucketfs: mounting $(SAMPLE)/buckets on $(SAMPLE)/mnt (Ctrl-C to unmount)"
	@echo "  try, in another terminal:"
	@echo "    ls -l $(SAMPLE)/mnt/photos"
	@echo "    echo hi > $(SAMPLE)/mnt/photos/new.txt"
	@echo "    mkdir $(SAMPLE)/mnt/new-bucket"
	@echo "    cat $(SAMPLE)/mnt/.bucketfs/version"
	$(BUILD)/fs/bucketfs -f $(SAMPLE)/buckets $(SAMPLE)/mnt

check:
	packaging/deps.sh test
	tests/run-tests.sh $(CHECK_BUILD)

bench:
	packaging/deps.sh bench
	tests/bench/fs/run.sh

clean:
	rm -rf $(BUILD) $(CHECK_BUILD) $(CHECK_BUILD)-fuzz $(CHECK_BUILD)-tsan
