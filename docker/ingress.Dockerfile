# weir-ingress: FROM scratch, the binary and exactly what it needs at run time.
#
# The build context is the root filesystem docker/build-images.sh assembles
# from a binary built on this machine (no base image is pulled):
#   /usr/bin/weir-ingress                     the stripped binary
#   /lib/..., /usr/lib/..., /lib64/ld-linux-x86-64.so.2
#                                        its shared libraries (ldd) and the loader
#   /etc/ssl/certs/ca-certificates.crt   CA certificates (Kafka TLS, HTTPS)
#   /etc/passwd, /etc/group              the nonroot user 65532
#   /schemas/*.avsc                      Weir's schemas (SCHEMA_DIR)
#   /tmp                                 (Kubernetes mounts an emptyDir here)
#   make images      or      docker/build-images.sh ingress
FROM scratch
COPY rootfs/ /
ENV SCHEMA_DIR=/schemas \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER 65532:65532
EXPOSE 8080 9400
ENTRYPOINT ["/usr/bin/weir-ingress"]
