# `cmake --install`: the shared library, the C API and its C++ wrapper, the CLI, a CMake
# package (find_package(isomer CONFIG) -> isomer::isomer) and a pkg-config file. The C++
# runtime headers are internal (they change with every release) and are not installed.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS isomer LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS isomer_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES runtime/include/isomer/isomer.h runtime/include/isomer/isomer.hpp
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/isomer)

set(ISOMER_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/isomer)
configure_package_config_file(cmake/isomerConfig.cmake.in ${PROJECT_BINARY_DIR}/isomerConfig.cmake
  INSTALL_DESTINATION ${ISOMER_CMAKE_DIR}
  PATH_VARS CMAKE_INSTALL_LIBDIR CMAKE_INSTALL_INCLUDEDIR)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/isomerConfigVersion.cmake
  COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/isomerConfig.cmake ${PROJECT_BINARY_DIR}/isomerConfigVersion.cmake
        DESTINATION ${ISOMER_CMAKE_DIR})

# pkg-config paths are fixed at configure time; `cmake --install --prefix` elsewhere rewrites
# the prefix line (see below).
configure_file(cmake/isomer.pc.in ${PROJECT_BINARY_DIR}/isomer.pc.in.configured @ONLY)
install(CODE "
  file(READ \"${PROJECT_BINARY_DIR}/isomer.pc.in.configured\" pc)
  string(REGEX REPLACE \"^prefix=[^\\n]*\" \"prefix=\${CMAKE_INSTALL_PREFIX}\" pc \"\${pc}\")
  file(WRITE \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/pkgconfig/isomer.pc\" \"\${pc}\")
  message(STATUS \"Installing: \$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/pkgconfig/isomer.pc\")
")
