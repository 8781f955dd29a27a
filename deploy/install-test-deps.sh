#!/usr/bin/env bash
# Installs what the tests need: PostgreSQL 15 and Redis from Debian's packages, and the package with
# its test extras in a virtualenv of its own (.venv, or $DMS_VENV), never in the system Python.
# It leaves the machine as it found it: no system service is started, and apt's policy is restored.
# DMS_TEST_DEPS=python installs the virtualenv alone (deploy/test.sh does so for the unit tests, which use
# no server).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV="${DMS_VENV:-.venv}"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

APT_UPDATED=""
apt_install() {
    [ -n "$APT_UPDATED" ] || { echo "apt-get update"; $SUDO apt-get update -qq; APT_UPDATED=1; }
    echo "apt-get install $*"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# Tests start their own throwaway servers, so apt must not start the packaged services. A
# policy-rc.d does that; it is removed again on exit (left behind, it would keep apt from
# starting any service on this machine afterwards), unless the machine had one of its own.
apt_install_servers() {
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        echo "policy-rc.d: keeping apt from starting system services during the install"
        printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
        $SUDO chmod 755 /usr/sbin/policy-rc.d
        trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    apt_install "$@"
}

# installed WHAT FILES...: every FILE is there and executable (and it says so): then nothing to install.
installed() {
    local what="$1" file; shift
    for file in "$@"; do [ -x "$file" ] || return 1; done
    echo "$what: already installed"
}

# npm_tool NAME VERSION: a test server from npm into $NPM_DIR, its own cache dir, unless it is there.
npm_tool() {
    if [ -f "$NPM_DIR/node_modules/$1/cli.js" ]; then echo "$1: already installed"; return 0; fi
    command -v npm >/dev/null || apt_install nodejs npm
    echo "npm install $1@$2 into $NPM_DIR"
    mkdir -p "$NPM_DIR"
    npm install --prefix "$NPM_DIR" --no-audit --no-fund --loglevel=error "$1@$2" >/dev/null
}

if [ "${DMS_TEST_DEPS:-all}" != python ]; then  # DMS_TEST_DEPS=python: the unit tests alone need no server
    installed "postgresql-15 and redis-server" /usr/lib/postgresql/15/bin/postgres /usr/bin/redis-server \
        || apt_install_servers postgresql-15 postgresql-contrib-15 redis-server

    # MariaDB 10.11 for the mysql/mariadb engines' tests (deploy/mariadb.sh starts its own servers).
    installed mariadb-server /usr/sbin/mariadbd /usr/bin/mariadb-install-db || apt_install_servers mariadb-server mariadb-client

    # Chromium for the web console's browser test (tests/integration/test_console.py), driven by Playwright for
    # Python with this browser: Playwright's own browser downloads are never used.
    installed "chromium and chromium-driver" /usr/bin/chromium /usr/bin/chromedriver || apt_install chromium chromium-driver

    # Apache Kafka (KRaft) for the Kafka target's tests: the broker's jars from Maven Central into a cache
    # (deploy/kafka/pom.xml), run by deploy/kafka.sh with the machine's Java.
    KAFKA_VERSION="${KAFKA_VERSION:-4.4.0}"
    KAFKA_LIBS="${KAFKA_LIBS:-$HOME/.cache/opendms/kafka-$KAFKA_VERSION/libs}"
    if ls "$KAFKA_LIBS"/kafka_2.13-"$KAFKA_VERSION".jar >/dev/null 2>&1; then
        echo "kafka $KAFKA_VERSION jars: already in $KAFKA_LIBS"
    else
        command -v java >/dev/null || apt_install default-jre-headless
        command -v mvn >/dev/null || apt_install maven
        echo "mvn dependency:copy-dependencies (kafka $KAFKA_VERSION) -> $KAFKA_LIBS"
        mvn -q -B -f deploy/kafka/pom.xml -Dkafka.version="$KAFKA_VERSION" dependency:copy-dependencies \
            -DincludeScope=runtime -DoutputDirectory="$KAFKA_LIBS"
    fi
fi

DMS_VENV="$VENV" bash deploy/venv.sh

if [ "${DMS_TEST_DEPS:-all}" != python ]; then  # DMS_TEST_DEPS=python: the unit tests alone need no server
    # kinesalite (a Kinesis Data Streams API server, for the Kinesis target's tests: deploy/kinesis.sh) from npm,
    # into a cache dir; its LevelDB binding ships prebuilt, so no compiler is needed.
    NPM_DIR="${DMS_NPM_DIR:-$HOME/.cache/opendms/npm}"
    npm_tool kinesalite 3.3.3
    # dynalite (a DynamoDB API server, for the DynamoDB target's tests: deploy/dynamodb.sh), the same way.
    npm_tool dynalite 4.0.0

    # The S3-compatible test server (deploy/s3.sh): gofakes3, MIT, built from the Go module proxy.
    GOFAKES3="${OPENDMS_CACHE:-$HOME/.cache/opendms}/bin/gofakes3"
    if ! installed gofakes3 "$GOFAKES3"; then
        command -v go >/dev/null 2>&1 || apt_install golang-go
        echo "go install github.com/johannesboyne/gofakes3/cmd/gofakes3@v1.2.0"
        GOBIN="$(dirname "$GOFAKES3")" GOFLAGS=-modcacherw go install github.com/johannesboyne/gofakes3/cmd/gofakes3@v1.2.0
    fi

    # The test MongoDB server (deploy/mongodb.sh): mongo-java-server from Maven Central, with the small main
    # of deploy/mongodb-server/, built into a cache outside the work tree.
    MONGO_CACHE="${OPENDMS_CACHE:-$HOME/.cache/opendms}/mongodb-server"
    # built again when any of its sources or its pom is newer than the jar
    if [ -f "$MONGO_CACHE/lib/mongodb-test-server-1.jar" ] && \
       [ -z "$(find deploy/mongodb-server -type f -newer "$MONGO_CACHE/lib/mongodb-test-server-1.jar" -print -quit)" ]; then
        echo "MongoDB test server: already built"
    else
        command -v mvn >/dev/null || apt_install maven
        echo "mvn package (deploy/mongodb-server) -> $MONGO_CACHE"
        mkdir -p "$MONGO_CACHE/lib"
        (cd deploy/mongodb-server && mvn -q -B package dependency:copy-dependencies \
            -DoutputDirectory="$MONGO_CACHE/lib" -Dmaven.build.directory="$MONGO_CACHE/build" >/dev/null)
        cp deploy/mongodb-server/target/mongodb-test-server-1.jar "$MONGO_CACHE/lib/"
        rm -rf deploy/mongodb-server/target
    fi
fi

# mysqlclient (a test extra: the MySQL/MariaDB full load's C reader, connectors/mysql/rowread.py) builds from
# source: it needs a C compiler, pkg-config, MariaDB's client headers and Python's headers first.
PY_HEADERS="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')/Python.h"
if command -v cc >/dev/null && pkg-config --exists libmariadb 2>/dev/null && [ -e "$PY_HEADERS" ]; then
    echo "mysqlclient build deps: already installed"
else
    PY_DEV="python$("$VENV/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')-dev"
    apt_install gcc pkg-config libmariadb-dev "$PY_DEV"
fi

echo "$VENV/bin/pip install -e .[test]"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".[test]"
echo "done"
