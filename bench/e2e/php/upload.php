<?php
// The php-fpm reference for the 5 MiB upload row: reads the whole body, answers its length.
header('Content-Type: text/plain; charset=utf-8');
$in = fopen('php://input', 'rb');
$bytes = 0;
while (!feof($in)) {
    $bytes += strlen(fread($in, 65536));
}
echo $bytes, "\n";
