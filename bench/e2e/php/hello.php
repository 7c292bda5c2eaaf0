<?php
// The php-fpm reference for the hello-world rows (bench/e2e/app.ts answers the same).
header('Content-Type: text/plain; charset=utf-8');
echo "Hello, world!\n";
