# docker/image.mk — the image link of a service, read after the Makefile by
# docker/build-images.sh:
#   make -f Makefile -f docker/image.mk B=<build dir> <build dir>/image/weir-<service>
# Same objects as `make all` (common/ from libweir.a, the service's own
# objects), linked with the Debian libraries that ship static archives linked
# in: avro-c, librdkafka, libmicrohttpd, libwebsockets, hiredis.  Only the
# objects Weir uses get in, and avro-c's snappy codec (C++, so libstdc++)
# does not: 3.4 MB less per image than the shared-library binary.  libcurl
# (with its TLS, Kerberos, LDAP and SSH dependencies), OpenSSL, GnuTLS and
# glibc have no static archive in Debian and stay shared.  `-l:<file>` links
# exactly that file: the .a, or the versioned .so where Debian ships no -dev
# symlink.

# Keep the objects between runs, so the next `make images` relinks only.
.SECONDARY:

IMAGE_LIBS := -l:libavro.a -l:librdkafka.a -l:libmicrohttpd.a -l:libwebsockets.a -l:libhiredis.a \
              -l:libjansson.so.4 -lcurl -lcjson -lgnutls -lssl -lcrypto -l:libsasl2.so.2 \
              -l:libzstd.so.1 -l:liblz4.so.1 -lcap -lz -lpthread -lm -ldl

$(B)/image/weir-%: $(B)/services/%/main.o $(B)/lib/libweir-%.a $(LIBWEIR)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ $(IMAGE_LIBS) -o $@
