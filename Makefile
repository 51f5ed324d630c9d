# hostkit: build, test, package.
#
#   make            build the daemons, generators and hostkitctl into bin/
#   make check      install test dependencies (Debian), lint, unit, integration and system tests
#   make demo       build the package, boot a throwaway container, show hostkit at work
#   make packages   dist/hostkit_VERSION_amd64.deb and dist/hostkit-VERSION.x86_64.rpm
#   make man        render man pages into build/man
#   make bench      benchmarks, side by side with their anchors
#   make repo       signed apt and yum repositories of the packages in dist/repo/{apt,rpm}

VERSION ?= 0.1.0
GO      ?= go
export GOFLAGS += -buildvcs=false
export CGO_ENABLED ?= 0

BINARIES := bin/hostkit-hwd bin/hostkitctl
BINARIES += bin/hostkit-bootorder
BINARIES += bin/hostkit-syncd
BINARIES += bin/hostkit-vncd
BINARIES += bin/hostkit-exporter
# systemd generators: built like the binaries, but packaged to
# /usr/lib/systemd/system-generators from their own stripped copies in build/pkg/generators
# (nfpm.yaml sends everything in build/pkg/bin named hostkit-* to /usr/sbin).
GENERATORS := bin/hostkit-bootorder-generator
GENERATORS += bin/hostkit-vnc-generator
MAN_SRC  := $(wildcard man/*.md)
MAN_OUT  := $(patsubst man/%.md,build/man/%,$(MAN_SRC))

# Debian packages the tests need; `make deps` installs only what is missing.
TEST_DEBS := dbus dbus-daemon polkitd dmidecode debootstrap systemd-container lintian rpm \
             passwd util-linux ca-certificates binutils \
             systemd dbus-user-session \
             rsync lsyncd iproute2 nftables e2fsprogs mount \
             tigervnc-standalone-server tigervnc-tools xterm
TEST_DEBS += zsh openssh-client prometheus gnupg apt-utils createrepo-c dnf
TEST_DEBS += smartmontools fdisk lshw inxi ethtool

.PHONY: all build man packages repo check preflight deps lint unit integration system demo bench fuzz clean

all: build

build: $(BINARIES) $(GENERATORS)

bin/%: FORCE
	$(GO) build -trimpath -ldflags "-X github.com/hostkit/hostkit/internal/version.Version=$(VERSION)" -o $@ ./cmd/$*

FORCE:

# --- man pages and packages (nfpm.yaml, packaging/) ---
MD2MAN ?= $(GO) tool go-md2man
NFPM   ?= $(GO) tool nfpm
DEB    := dist/hostkit_$(VERSION)_amd64.deb
RPM    := dist/hostkit-$(VERSION).x86_64.rpm
# File times in the packages and the changelog date: the last commit's, so that the same
# commit gives the same packages. Without a commit nfpm takes the files' own times.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null)
SOURCE_DATE_EPOCH := $(SOURCE_DATE_EPOCH)

# build/man/NAME.SECTION (roff, for man -l) and build/man/NAME.SECTION.gz (packaged).
man: $(MAN_OUT) $(addsuffix .gz,$(MAN_OUT))

# man/NAME.SECTION.md -> build/man/NAME.SECTION
build/man/%: man/%.md go.mod
	@mkdir -p build/man
	$(MD2MAN) -in $< -out $@

# -n: no name or time in the gzip header, so the same page gives the same bytes.
build/man/%.gz: build/man/%
	gzip -9nc $< >$@.tmp && mv $@.tmp $@

# The packages ship stripped copies of bin/*, as dh_strip and rpm's brp-strip would make
# them (bin/ keeps its symbols for debugging). Stripping keeps the Go build info, so
# `go version -m` still reads the modules from the packaged binaries.
PKG_BIN := $(patsubst bin/%,build/pkg/bin/%,$(BINARIES))
build/pkg/bin/%: bin/%
	@mkdir -p build/pkg/bin
	strip --strip-unneeded --remove-section=.comment --remove-section=.note -o $@ $<

PKG_GEN := $(patsubst bin/%,build/pkg/generators/%,$(GENERATORS))
build/pkg/generators/%: bin/%
	@mkdir -p build/pkg/generators
	strip --strip-unneeded --remove-section=.comment --remove-section=.note -o $@ $<

# /usr/share/doc/hostkit/changelog.gz, which Debian requires of every package: one entry
# per built version, pointing at the release notes.
build/changelog.gz: FORCE
	@mkdir -p build
	@d=$$(date -u -R $(if $(SOURCE_DATE_EPOCH),-d @$(SOURCE_DATE_EPOCH))); \
	printf '%s\n' "hostkit ($(VERSION)) unstable; urgency=medium" "" \
	  "  * Release $(VERSION); release notes: https://github.com/hostkit/hostkit/releases" "" \
	  " -- hostkit maintainers <maintainers@hostkit.invalid>  $$d" | gzip -9n >$@

# Exactly $(DEB) and $(RPM); packages of other versions are removed from dist/.
packages: build man $(PKG_BIN) $(PKG_GEN) build/changelog.gz
	@mkdir -p dist
	rm -f dist/hostkit_*_amd64.deb dist/hostkit-*.x86_64.rpm
	VERSION=$(VERSION) SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) $(NFPM) package --config nfpm.yaml --packager deb --target $(DEB)
	VERSION=$(VERSION) SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) $(NFPM) package --config nfpm.yaml --packager rpm --target $(RPM)

# Signed repositories of the packages: dist/repo/apt (apt-ftparchive; Release, InRelease,
# Packages) and dist/repo/rpm (signed rpm, createrepo_c metadata, signed repomd.xml).
# Signed with the first secret key in REPO_GNUPGHOME; without one, packaging/repo/mkrepo
# makes a test key there (never a release key: point REPO_GNUPGHOME at that instead).
REPO_GNUPGHOME ?= build/repo-gnupg
repo: packages
	packaging/repo/mkrepo dist/repo $(REPO_GNUPGHOME) $(DEB) $(RPM)

# What make cannot install, checked before anything is installed or built: the SMBIOS
# dumps the tests and the demo read ($$HOSTKIT_SMBIOS_DUMPS, ../shared/smbios-dumps or
# test/testdata/smbios-dumps).
preflight:
	@mkdir -p build && $(GO) build -o build/preflight ./test/preflight && build/preflight

deps:
	@missing=""; for p in $(TEST_DEBS); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	else echo "test dependencies present"; fi

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

# The container harness's own test boots a container: it runs with the system tests.
unit:
	$(GO) test -count=1 $$($(GO) list ./services/... ./internal/... ./cmd/... ./dbus/... | grep -v /testcontainer)

integration: build
	$(GO) test -count=1 -v ./test/integration/... ./test/peer/... ./test/generator/...

system: packages
	$(GO) test -count=1 -v -timeout 30m ./test/packaging/... ./internal/testcontainer/... ./test/system/...

check: preflight deps lint unit integration system

demo: preflight deps packages
	$(GO) run ./test/demo

bench: packages
	$(GO) run ./test/bench
	$(GO) test -run '^$$' -bench . -benchmem ./services/...

# FUZZTIME is how long each fuzz target runs: make fuzz FUZZTIME=5m before resolving a
# parser change.
FUZZTIME ?= 30s

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime $(FUZZTIME) ./services/hardware
	$(GO) test -run '^$$' -fuzz FuzzAdvise -fuzztime $(FUZZTIME) ./services/hardware
	$(GO) test -run '^$$' -fuzz FuzzParseCPUInfo -fuzztime $(FUZZTIME) ./services/hardware
	$(GO) test -run '^$$' -fuzz FuzzParseUdevData -fuzztime $(FUZZTIME) ./services/hardware
	$(GO) test -run '^$$' -fuzz FuzzParseSmartctl -fuzztime $(FUZZTIME) ./services/hardware
	$(GO) test -run '^$$' -fuzz FuzzPartitionTable -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./services/hardware
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME) ./internal/config
	$(GO) test -run '^$$' -fuzz FuzzParseHeader -fuzztime $(FUZZTIME) ./services/bootorder
	$(GO) test -run '^$$' -fuzz FuzzPlanOrder -fuzztime $(FUZZTIME) ./services/bootorder
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime $(FUZZTIME) ./services/sync
	$(GO) test -run '^$$' -fuzz FuzzLoad -fuzztime $(FUZZTIME) ./services/sync
	$(GO) test -run '^$$' -fuzz FuzzLoad -fuzztime $(FUZZTIME) ./services/vnc
	$(GO) test -run '^$$' -fuzz FuzzXvncOptions -fuzztime $(FUZZTIME) ./services/vnc
	$(GO) test -run '^$$' -fuzz FuzzImport -fuzztime $(FUZZTIME) ./services/vnc
	$(GO) test -run '^$$' -fuzz FuzzRuntimeText -fuzztime $(FUZZTIME) ./services/vnc

clean:
	rm -rf bin dist build
