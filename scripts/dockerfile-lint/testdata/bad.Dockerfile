FROM node:24 as Build
ARG API_TOKEN=abc
ENV MODE production
WORKDIR app
COPY test/ ./
COPY app ./
COPY missing.txt ./
CMD node index.js
