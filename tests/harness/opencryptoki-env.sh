# Sourced by tests that use openCryptoki's soft token as a keystore: its
# state on tmpfs in the test's private mount namespace (gp-env.sh makes one;
# its slot daemon ends with it), a token "keystore" with SO PIN $oc_so and
# user PIN $oc_user. Sets $oc (the module). Exits 1 if openCryptoki is
# missing or its token cannot be set up.
oc=/usr/lib/x86_64-linux-gnu/opencryptoki/libopencryptoki.so.0
[ -e "$oc" ] && command -v pkcsslotd > /dev/null || { echo "FAIL: openCryptoki is not installed"; exit 1; }
for d in /var/lib/opencryptoki /etc/opencryptoki /run/opencryptoki /var/lock/opencryptoki; do
    mkdir -p "$d" && mount -t tmpfs gp-p11-test "$d"
done
mkdir -p /var/lib/opencryptoki/swtok/TOK_OBJ /var/lock/opencryptoki/swtok
printf 'version opencryptoki-3.1\nslot 3\n{\nstdll = libpkcs11_sw.so\n}\n' > /etc/opencryptoki/opencryptoki.conf
chgrp -R pkcs11 /var/lib/opencryptoki /var/lock/opencryptoki /run/opencryptoki
chmod -R g+rwx /var/lib/opencryptoki /var/lock/opencryptoki /run/opencryptoki
pkcsslotd
oc_so=87654321 oc_user=55667788
{ printf '%s\nkeystore\n' "$oc_so" | pkcsconf -I -c 3
  printf '%s\n11223344\n11223344\n' "$oc_so" | pkcsconf -P -c 3
  printf '11223344\n%s\n%s\n' "$oc_user" "$oc_user" | pkcsconf -u -c 3; } > "$GP_ENV_DIR/oc-init.log" 2>&1 ||
    { echo "FAIL: openCryptoki token set-up"; cat "$GP_ENV_DIR/oc-init.log"; exit 1; }
