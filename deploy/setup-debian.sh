#!/usr/bin/env bash
# Set up cellbatch on a Debian 12 server, as root (docs/deployment.md).
#
#   deploy/setup-debian.sh [OPTIONS]
#
#   --backend sqlite|postgresql  where the records live (default: sqlite)
#   --server-name NAME           the name browsers reach the server by (default: hostname -f)
#   --https-listen [ADDR:]PORT   nginx's TLS listener (default: 443, all addresses)
#   --serve-port PORT            `cellbatch serve` on 127.0.0.1 behind nginx (default: 8080)
#   --tls-cert FILE --tls-key FILE
#                                the server's certificate; without them a self-signed one is made
#                                (replace it with the hospital's before use)
#   --admin USER-ID --admin-name NAME
#                                make the first cellbatch admin; the password is read from stdin
#   --terminal-user NAME --terminal-key FILE
#                                add a technician's SSH account (repeat the pair): it reaches the
#                                terminal UI only (forced command), never a shell
#   --no-start                   install and configure, start nothing (no systemd, e.g. a container)
#
# It makes: the `cellbatch` service account (owning /var/lib/cellbatch: the database file 0600 or
# the database credentials, the key file, backups, archives), the program in /opt/cellbatch, its
# settings in /etc/cellbatch/cellbatch.env, the SSH forced command for technicians (group
# cellbatch-terminal, /usr/local/bin/cellbatch-tui run as the service account through one sudo
# rule), nginx with TLS in front of `cellbatch serve`, and the systemd units: cellbatch-serve and
# the nightly audit verify + backup (cellbatch-nightly.timer). Running it again changes only what
# is not yet as described; existing settings, keys and certificates are kept.
set -euo pipefail

prog=setup-debian
die() {
    echo "$prog: error: $*" >&2
    exit 1
}
say() { echo "$prog: $*" >&2; }

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
backend=sqlite
server_name=
https_listen=443
serve_port=8080
tls_cert=
tls_key=
admin=
admin_name=
start=1
terminal_users=()
terminal_keys=()

while [[ $# -gt 0 ]]; do
    case $1 in
        --backend) backend=${2:?}; shift 2 ;;
        --server-name) server_name=${2:?}; shift 2 ;;
        --https-listen) https_listen=${2:?}; shift 2 ;;
        --serve-port) serve_port=${2:?}; shift 2 ;;
        --tls-cert) tls_cert=${2:?}; shift 2 ;;
        --tls-key) tls_key=${2:?}; shift 2 ;;
        --admin) admin=${2:?}; shift 2 ;;
        --admin-name) admin_name=${2:?}; shift 2 ;;
        --terminal-user) terminal_users+=("${2:?}"); shift 2 ;;
        --terminal-key) terminal_keys+=("${2:?}"); shift 2 ;;
        --no-start) start=; shift ;;
        -h | --help) sed -n '2,30p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done

[[ $(id -u) -eq 0 ]] || die "must be run as root (it creates accounts and writes /etc): sudo $0"
command -v apt-get >/dev/null || die "expected a Debian system (apt-get not found)"
[[ $backend == sqlite || $backend == postgresql ]] || die "--backend: expected sqlite or postgresql, got $backend"
[[ $serve_port =~ ^[0-9]+$ ]] || die "--serve-port: expected a port number, got $serve_port"
[[ ${#terminal_users[@]} -eq ${#terminal_keys[@]} ]] || die "--terminal-user and --terminal-key come in pairs"
if [[ -n $admin && -z $admin_name ]]; then die "--admin needs --admin-name"; fi
if [[ -n $tls_cert || -n $tls_key ]]; then
    [[ -r $tls_cert && -r $tls_key ]] || die "--tls-cert and --tls-key: both must be readable files"
fi
server_name=${server_name:-$(hostname -f 2>/dev/null || hostname)}

ACCOUNT=cellbatch
GROUP_TERMINAL=cellbatch-terminal
OPT=/opt/cellbatch
VENV=$OPT/venv
STATE=/var/lib/cellbatch
ETC=/etc/cellbatch
ENV_FILE=$ETC/cellbatch.env

if [[ -f $ENV_FILE ]]; then  # kept as it is; but never silently on another backend
    configured=$(sed -nE 's/^CELLBATCH_DATABASE_URL=(sqlite|postgresql).*/\1/p' "$ENV_FILE")
    if [[ -n $configured && $configured != "$backend" ]]; then
        die "this server is set up for $configured ($ENV_FILE); --backend $backend would not change it. Moving the records is a backup and a restore (docs/backup-and-archive.md), not a re-run of this script"
    fi
fi
# --- packages -------------------------------------------------------------------------
packages=(python3 python3-venv sudo openssh-server openssh-client nginx openssl fonts-dejavu-core)
[[ $backend == postgresql ]] && packages+=(postgresql)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=600 update -qq </dev/null >/dev/null
    # no services started by the packages themselves: this script starts what it configured
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" \
        </dev/null >/dev/null || { rm -f /usr/sbin/policy-rc.d; die "apt-get install failed"; }
    rm -f /usr/sbin/policy-rc.d
fi

# --- accounts ---------------------------------------------------------------------------
getent group "$GROUP_TERMINAL" >/dev/null || groupadd --system "$GROUP_TERMINAL"
if ! id -u "$ACCOUNT" >/dev/null 2>&1; then
    useradd --system --user-group --home-dir "$STATE" --no-create-home \
        --shell /usr/sbin/nologin --comment "cellbatch service" "$ACCOUNT"
fi
install -d -o root -g root -m 0755 "$OPT"
install -d -o "$ACCOUNT" -g "$ACCOUNT" -m 0700 "$STATE" "$STATE/backups" "$STATE/archive" \
    "$STATE/printed"
install -d -o root -g "$ACCOUNT" -m 0750 "$ETC"
KEYS=/etc/ssh/cellbatch-keys  # read by sshd as the user: outside the closed $ETC
install -d -o root -g root -m 0755 "$KEYS"
install -d -o root -g root -m 0700 "$ETC/tls"

# --- the program ------------------------------------------------------------------------
stamp=$( (cd "$SRC" && find pyproject.toml cellbatch sops labels -type f ! -name '*.pyc' -print0 |
    sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-64)
if [[ ! -x $VENV/bin/cellbatch || $(cat "$OPT/.installed" 2>/dev/null) != "$stamp" ]]; then
    say "installing cellbatch from $SRC into $VENV"
    [[ -x $VENV/bin/python ]] || /usr/bin/python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "setuptools>=68" wheel >/dev/null 2>&1 ||
        die "pip could not install setuptools into $VENV"
    build=$(mktemp -d)
    cp -a "$SRC/pyproject.toml" "$SRC/README.md" "$SRC/cellbatch" "$build/"
    "$VENV/bin/pip" install -q --disable-pip-version-check --no-build-isolation "$build" \
        >"$build.log" 2>&1 || { cat "$build.log" >&2; die "pip install of cellbatch failed"; }
    rm -rf "$build" "$build.log"
    rm -rf "$OPT/sops" "$OPT/labels"
    cp -a "$SRC/sops" "$SRC/labels" "$OPT/"
    chown -R root:root "$OPT"
    chmod -R go-w,a+rX "$OPT"
    echo "$stamp" >"$OPT/.installed"
fi

# --- settings ---------------------------------------------------------------------------
if [[ ! -f $ENV_FILE ]]; then
    if [[ $backend == sqlite ]]; then
        url="sqlite:///$STATE/cellbatch.db"
    else
        url="postgresql://cellbatch_app:$(openssl rand -hex 24)@127.0.0.1/cellbatch"
    fi
    umask 027
    cat >"$ENV_FILE" <<EOF
# cellbatch's settings for the service account (read by cellbatch-serve, the nightly job and the
# technicians' terminal UI). Readable by root and the cellbatch account only: it may hold the
# database password.
CELLBATCH_DATABASE_URL=$url
CELLBATCH_DATA_DIR=$STATE
CELLBATCH_SOPS_DIR=$OPT/sops
CELLBATCH_LABELS_DIR=$OPT/labels
CELLBATCH_ARCHIVE_DIR=$STATE/archive
CELLBATCH_NIGHTLY_STATUS=$STATE/nightly.json
CELLBATCH_PRINT_DIR=$STATE/printed
LANG=C.UTF-8
EOF
    umask 022
fi
chown root:"$ACCOUNT" "$ENV_FILE"
chmod 0640 "$ENV_FILE"

as_service() { # run a command as the service account with its settings (stdin passed on)
    # shellcheck disable=SC2016  # expanded by the inner shell
    runuser -u "$ACCOUNT" -- env -i PATH=/usr/bin:/bin HOME="$STATE" \
        /bin/sh -c 'set -a; . "$0"; set +a; exec "$@"' "$ENV_FILE" "$@"
}

# --- the database -----------------------------------------------------------------------
if [[ $backend == postgresql ]]; then
    # the cluster must run for the set-up itself (also with --no-start, which concerns cellbatch's
    # own services): Debian's cluster "main" of the newest version installed
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    [[ -n $version ]] || die "no PostgreSQL cluster found in /etc/postgresql"
    pg_ctlcluster "$version" main status >/dev/null 2>&1 || pg_ctlcluster "$version" main start ||
        die "PostgreSQL $version/main does not start (pg_ctlcluster $version main start)"
    app_password=$(sed -nE 's#^CELLBATCH_DATABASE_URL=postgresql://cellbatch_app:([^@]*)@.*#\1#p' "$ENV_FILE")
    owner_file=$ETC/owner.env
    if [[ ! -f $owner_file ]]; then
        umask 077
        echo "CELLBATCH_OWNER_PASSWORD=$(openssl rand -hex 24)" >"$owner_file"
        umask 022
    fi
    owner_password=$(sed -n 's/^CELLBATCH_OWNER_PASSWORD=//p' "$owner_file")
    runuser -u postgres -- psql -v ON_ERROR_STOP=1 -q <<EOF
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'cellbatch_owner') THEN
    CREATE ROLE cellbatch_owner LOGIN PASSWORD '$owner_password';
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'cellbatch_app') THEN
    CREATE ROLE cellbatch_app LOGIN PASSWORD '$app_password';
  END IF;
END \$\$;
EOF
    runuser -u postgres -- psql -tAc "SELECT 1 FROM pg_database WHERE datname = 'cellbatch'" | grep -q 1 ||
        runuser -u postgres -- createdb -O cellbatch_owner cellbatch
    owner_url="postgresql://cellbatch_owner:$owner_password@127.0.0.1/cellbatch"
    # init as the service account (it makes the site key), migrating as the owner role and
    # granting the application role its rights: docs/trust-model.md
    as_service "$VENV/bin/cellbatch" init --owner-db "$owner_url" >/dev/null
else
    as_service "$VENV/bin/cellbatch" init >/dev/null
fi
if [[ -n $admin ]]; then
    out=$(as_service "$VENV/bin/cellbatch" init --admin "$admin" --name "$admin_name" \
        --password-stdin 2>&1) || {
        grep -q "already has users" <<<"$out" || die "first admin: $out"
    }
fi
# everything the service keeps is its own, and no one else's
chown -R "$ACCOUNT:$ACCOUNT" "$STATE"
find "$STATE" -type f -exec chmod 0600 {} +

# --- technicians: SSH to the terminal UI only -----------------------------------------
install -o root -g root -m 0755 /dev/stdin /usr/local/bin/cellbatch-tui <<EOF
#!/bin/sh
# SSH forced command of the cleanroom terminals (deploy/setup-debian.sh): the terminal UI, run as
# the service account that owns the records; the technician's own account never reads them.
# Without a terminal (sftp, scp, a command piped in) there is nothing to do: refused at once.
if [ ! -t 0 ] || [ ! -t 1 ]; then
    echo "cellbatch: this account opens the terminal UI only: connect from a terminal (ssh -t)" >&2
    exit 1
fi
if [ "\$(id -un)" != "$ACCOUNT" ]; then
    exec sudo -n -u $ACCOUNT /usr/local/bin/cellbatch-tui
fi
set -a
. $ENV_FILE
set +a
exec $VENV/bin/cellbatch tui
EOF
sudoers=$(mktemp)
cat >"$sudoers" <<EOF
# Technicians (group $GROUP_TERMINAL) run the terminal UI as $ACCOUNT, with no arguments.
%$GROUP_TERMINAL ALL=($ACCOUNT) NOPASSWD: /usr/local/bin/cellbatch-tui ""
EOF
visudo -cqf "$sudoers" || die "the sudoers rule does not validate"
install -o root -g root -m 0440 "$sudoers" /etc/sudoers.d/cellbatch
rm -f "$sudoers"
install -o root -g root -m 0644 /dev/stdin /etc/ssh/sshd_config.d/cellbatch.conf <<EOF
# Cleanroom terminals (deploy/setup-debian.sh): members of $GROUP_TERMINAL get the terminal UI and
# nothing else: no shell, no command of their choosing, no forwarding, no sftp; their keys are
# kept by root in $KEYS/USER.
Match Group $GROUP_TERMINAL
    ForceCommand /usr/local/bin/cellbatch-tui
    AuthorizedKeysFile $KEYS/%u
    PermitTTY yes
    AllowTcpForwarding no
    AllowStreamLocalForwarding no
    AllowAgentForwarding no
    X11Forwarding no
    PermitTunnel no
    PermitUserRC no
    PasswordAuthentication no
    KbdInteractiveAuthentication no
Match all
EOF
for i in "${!terminal_users[@]}"; do
    user=${terminal_users[$i]}
    id -u "$user" >/dev/null 2>&1 ||
        useradd --create-home --shell /bin/sh --comment "cellbatch terminal" "$user"
    usermod -a -G "$GROUP_TERMINAL" "$user"
    install -o root -g root -m 0644 "${terminal_keys[$i]}" "$KEYS/$user"
done
install -d -m 0755 /run/sshd  # made by ssh.service on a running system; sshd -t needs it
sshd -t || die "sshd rejects its configuration (sshd -t above)"

# --- the browser door behind nginx with TLS --------------------------------------------
if [[ -n $tls_cert ]]; then
    install -o root -g root -m 0644 "$tls_cert" "$ETC/tls/cellbatch.crt"
    install -o root -g root -m 0600 "$tls_key" "$ETC/tls/cellbatch.key"
elif [[ ! -f $ETC/tls/cellbatch.crt ]]; then
    say "no --tls-cert: making a self-signed certificate for $server_name (replace it)"
    openssl req -x509 -newkey rsa:3072 -nodes -days 825 -subj "/CN=$server_name" \
        -addext "subjectAltName=DNS:$server_name,IP:127.0.0.1" \
        -keyout "$ETC/tls/cellbatch.key" -out "$ETC/tls/cellbatch.crt" 2>/dev/null
    chmod 0600 "$ETC/tls/cellbatch.key"
fi
redirect=
if [[ $https_listen == 443 ]]; then
    redirect="server { listen 80; server_name $server_name; return 301 https://\$host\$request_uri; }"
fi
install -o root -g root -m 0644 /dev/stdin /etc/nginx/sites-available/cellbatch <<EOF
# cellbatch's browser door (deploy/setup-debian.sh): TLS here, \`cellbatch serve\` on loopback.
map \$http_upgrade \$cellbatch_connection { default upgrade; '' close; }
$redirect
server {
    listen $https_listen ssl;
    server_name $server_name;
    ssl_certificate $ETC/tls/cellbatch.crt;
    ssl_certificate_key $ETC/tls/cellbatch.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    add_header Strict-Transport-Security "max-age=31536000" always;
    client_max_body_size 1m;
    location / {
        proxy_pass http://127.0.0.1:$serve_port;
        proxy_http_version 1.1;
        proxy_set_header Upgrade \$http_upgrade;
        proxy_set_header Connection \$cellbatch_connection;
        # the door refuses a WebSocket whose Origin is not the address the browser reached
        proxy_set_header Host \$http_host;
        proxy_set_header X-Forwarded-Proto https;
        proxy_buffering off;
        proxy_read_timeout 1h;
        proxy_send_timeout 1h;
    }
}
EOF
ln -sf /etc/nginx/sites-available/cellbatch /etc/nginx/sites-enabled/cellbatch
rm -f /etc/nginx/sites-enabled/default
nginx -t -q || die "nginx rejects its configuration (nginx -t above)"

# --- systemd units ---------------------------------------------------------------------
install -o root -g root -m 0644 /dev/stdin /etc/systemd/system/cellbatch-serve.service <<EOF
[Unit]
Description=cellbatch browser door (the terminal UI for browsers, behind nginx)
After=network.target postgresql.service

[Service]
User=$ACCOUNT
Group=$ACCOUNT
EnvironmentFile=$ENV_FILE
ExecStart=$VENV/bin/cellbatch serve --host 127.0.0.1 --port $serve_port
Restart=on-failure
NoNewPrivileges=yes
PrivateTmp=yes
ProtectSystem=strict
ProtectHome=yes
ReadWritePaths=$STATE
UMask=0077

[Install]
WantedBy=multi-user.target
EOF
install -o root -g root -m 0644 /dev/stdin /etc/systemd/system/cellbatch-nightly.service <<EOF
[Unit]
Description=cellbatch nightly audit verify and backup (result on the QA home screen)
After=network.target postgresql.service

[Service]
Type=oneshot
User=$ACCOUNT
Group=$ACCOUNT
EnvironmentFile=$ENV_FILE
ExecStart=$VENV/bin/cellbatch nightly --backup-dir $STATE/backups
NoNewPrivileges=yes
PrivateTmp=yes
ProtectSystem=strict
ProtectHome=yes
ReadWritePaths=$STATE
UMask=0077
EOF
install -o root -g root -m 0644 /dev/stdin /etc/systemd/system/cellbatch-anchor.service <<EOF
[Unit]
Description=cellbatch: anchor the audit trail's head outside the database

[Service]
Type=oneshot
User=$ACCOUNT
Group=$ACCOUNT
EnvironmentFile=$ENV_FILE
ExecStart=$VENV/bin/cellbatch audit anchor
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
ReadWritePaths=$STATE
UMask=0077
EOF
install -o root -g root -m 0644 /dev/stdin /etc/systemd/system/cellbatch-anchor.timer <<EOF
[Unit]
Description=cellbatch: anchor the audit trail hourly

[Timer]
OnCalendar=hourly
Persistent=true

[Install]
WantedBy=timers.target
EOF
install -o root -g root -m 0644 /dev/stdin /etc/systemd/system/cellbatch-nightly.timer <<EOF
[Unit]
Description=cellbatch nightly audit verify and backup

[Timer]
OnCalendar=*-*-* 02:30:00
Persistent=true
RandomizedDelaySec=10min

[Install]
WantedBy=timers.target
EOF

if [[ -n $start ]]; then
    if [[ -d /run/systemd/system ]]; then
        systemctl daemon-reload
        systemctl enable --now cellbatch-serve.service cellbatch-nightly.timer \
            cellbatch-anchor.timer
        systemctl reload-or-restart nginx ssh
    else
        die "systemd is not running here: use --no-start (everything is installed; nothing started)"
    fi
fi
say "done: https://$server_name$([[ $https_listen == 443 ]] || echo ":${https_listen##*:}")/ (browser door),"
say "  ssh TECHNICIAN@$server_name (terminal UI), nightly check 02:30 (cellbatch-nightly.timer)"
