#!/bin/bash
ALERT_THRESHOLD=204800  # 200MB

while true; do
    AVAIL=$(cat /proc/meminfo | grep MemAvailable | awk '{print $2}')

    if [ $AVAIL -lt $ALERT_THRESHOLD ]; then
        logger -p user.warn "Low memory: ${AVAIL}KB available"

        # Clear caches if very low
        if [ $AVAIL -lt 102400 ]; then
            sync
            echo 3 > /proc/sys/vm/drop_caches
            logger "Cleared page cache due to low memory"
        fi
    fi

    sleep 30
done
