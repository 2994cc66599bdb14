# Farm runtime: MD5 for the Avro IPC handshake (OpenSSL libcrypto) and the
# multi-process farm tests (tests/farm/).  Included from the top CMakeLists
# after the mchair_engine and mchair targets exist.
mc_require_pkg(CRYPTO libcrypto libssl-dev)
target_include_directories(mchair_engine PUBLIC ${CRYPTO_INCLUDE_DIRS})
target_link_libraries(mchair_engine PUBLIC ${CRYPTO_LINK_LIBRARIES})
